build/obj/src/util/time.o: src/util/time.c src/util/util.h
src/util/util.h:

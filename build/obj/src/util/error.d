build/obj/src/util/error.o: src/util/error.c src/util/util.h
src/util/util.h:

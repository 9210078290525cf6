build/obj/src/util/mem.o: src/util/mem.c src/util/util.h
src/util/util.h:

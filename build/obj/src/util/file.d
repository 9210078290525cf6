build/obj/src/util/file.o: src/util/file.c src/util/util.h
src/util/util.h:

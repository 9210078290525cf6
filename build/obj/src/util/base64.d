build/obj/src/util/base64.o: src/util/base64.c src/util/util.h
src/util/util.h:

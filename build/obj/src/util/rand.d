build/obj/src/util/rand.o: src/util/rand.c src/util/util.h
src/util/util.h:

build/obj/src/util/selector.o: src/util/selector.c src/util/util.h
src/util/util.h:

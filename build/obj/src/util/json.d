build/obj/src/util/json.o: src/util/json.c src/util/util.h
src/util/util.h:

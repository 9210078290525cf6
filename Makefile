# volshift: plain GNU Make with automatic dependencies.
#   make            build build/bin/volshift and build/bin/volshift-sim
#   make test       build and run every test (unit tests, then end-to-end tests against volshift-sim)
#   make sanitize   the same tests, built with AddressSanitizer and UndefinedBehaviorSanitizer
#   make demo       start volshift-sim and run the demo
SHELL := /bin/bash
CC ?= gcc
SANITIZE ?=
TSAN ?=
FUZZ ?=
ifeq ($(FUZZ),1)
BUILD ?= build-fuzz
SANFLAGS := -fsanitize=address,undefined,fuzzer-no-link -fno-sanitize-recover=undefined -fno-omit-frame-pointer
OPT := -O1 -g -Wno-unknown-warning-option
else ifeq ($(SANITIZE),1)
BUILD ?= build-san
SANFLAGS := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
OPT := -O1 -g
else ifeq ($(TSAN),1)
BUILD ?= build-tsan
SANFLAGS := -fsanitize=thread -fno-omit-frame-pointer
OPT := -O1 -g
else
BUILD ?= build
SANFLAGS :=
OPT := -O2 -g
endif

PKGS := libcurl jansson yaml-0.1 libmicrohttpd libxml-2.0 libcrypto gnutls
WARN := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wformat=2 -Wno-format-nonliteral -Wno-format-truncation \
	-Wvla -Wpointer-arith -Werror
CFLAGS := -std=c17 -D_GNU_SOURCE $(OPT) $(WARN) $(SANFLAGS) -pthread -MMD -MP -Isrc -I.
LDFLAGS := $(SANFLAGS) -pthread
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
# libwslay (volshift-sim's WebSocket framing) has no pkg-config file in Debian.
PKG_LIBS = $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lwslay -lm

UTIL_SRC := $(wildcard src/util/*.c)
KUBE_SRC := $(wildcard src/kube/*.c)
MIGRATE_SRC := $(wildcard src/migrate/*.c)
JOURNAL_SRC := $(wildcard src/journal/*.c)
ENGINE_SRC := $(wildcard src/engine/*.c)
S3_SRC := $(wildcard src/s3/*.c)
CLI_SRC := $(wildcard src/cli/*.c)
SIM_SRC := $(filter-out sim/main.c,$(wildcard sim/*.c))
UNIT_SRC := $(wildcard tests/unit/test_*.c)
E2E_C_SRC := $(wildcard tests/e2e/*.c)
BENCH_SRC := $(wildcard tests/bench/*.c)

obj = $(patsubst %.c,$(BUILD)/obj/%.o,$(1))
UTIL_LIB := $(BUILD)/lib/libvsutil.a
KUBE_LIB := $(BUILD)/lib/libvskube.a
SIM_LIB := $(BUILD)/lib/libvssim.a
MIGRATE_LIB := $(BUILD)/lib/libvsmigrate.a
JOURNAL_LIB := $(BUILD)/lib/libvsjournal.a
ENGINE_LIB := $(BUILD)/lib/libvsengine.a
S3_LIB := $(BUILD)/lib/libvss3.a
BINS := $(BUILD)/bin/volshift $(BUILD)/bin/volshift-sim
UNIT_BINS := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRC))
E2E_C_BINS := $(patsubst tests/e2e/%.c,$(BUILD)/tests/e2e_%,$(E2E_C_SRC))
BENCH_BINS := $(patsubst tests/bench/%.c,$(BUILD)/tests/bench_%,$(BENCH_SRC))

.SECONDARY:
.PHONY: all deps test unit e2e sanitize tsan demo clean format faults bench fuzz fuzz-build
all: deps $(BINS)

deps:
	@scripts/install-deps.sh

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(PKG_CFLAGS) -c -o $@ $<

$(UTIL_LIB): $(call obj,$(UTIL_SRC))
	@mkdir -p $(dir $@)
	ar rcs $@ $^
$(KUBE_LIB): $(call obj,$(KUBE_SRC))
	@mkdir -p $(dir $@)
	ar rcs $@ $^

$(MIGRATE_LIB): $(call obj,$(MIGRATE_SRC))
	@mkdir -p $(dir $@)
	ar rcs $@ $^
$(JOURNAL_LIB): $(call obj,$(JOURNAL_SRC))
	@mkdir -p $(dir $@)
	ar rcs $@ $^
$(ENGINE_LIB): $(call obj,$(ENGINE_SRC))
	@mkdir -p $(dir $@)
	ar rcs $@ $^
$(S3_LIB): $(call obj,$(S3_SRC))
	@mkdir -p $(dir $@)
	ar rcs $@ $^
$(SIM_LIB): $(call obj,$(SIM_SRC))
	@mkdir -p $(dir $@)
	ar rcs $@ $^

$(BUILD)/bin/volshift: $(call obj,$(CLI_SRC)) $(ENGINE_LIB) $(MIGRATE_LIB) $(JOURNAL_LIB) $(S3_LIB) $(KUBE_LIB) $(UTIL_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

# volshift-sim links only util and the JSON/HTTP libraries, none of volshift's logic.
$(BUILD)/bin/volshift-sim: $(BUILD)/obj/sim/main.o $(SIM_LIB) $(UTIL_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

# Objects before libraries: a test may add objects of its own as prerequisites (below).
$(BUILD)/tests/%: $(BUILD)/obj/tests/unit/%.o $(SIM_LIB) $(ENGINE_LIB) $(MIGRATE_LIB) $(JOURNAL_LIB) $(S3_LIB) $(KUBE_LIB) $(UTIL_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $(filter %.o,$^) $(filter %.a,$^) $(PKG_LIBS) -lcmocka
# The CLI's output is tested on its own object (the rest of the CLI has main()).
$(BUILD)/tests/test_cli_output: $(BUILD)/obj/src/cli/output.o

# End-to-end programs in C that drive a running volshift-sim through volshift's client and journal.
$(BUILD)/tests/e2e_%: $(BUILD)/obj/tests/e2e/%.o $(JOURNAL_LIB) $(KUBE_LIB) $(UTIL_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) -lcmocka

# Benchmark drivers in C that measure volshift's own code against a running volshift-sim.
$(BUILD)/tests/bench_%: $(BUILD)/obj/tests/bench/%.o $(MIGRATE_LIB) $(JOURNAL_LIB) $(KUBE_LIB) $(UTIL_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

unit: deps $(UNIT_BINS)
	@set -e; for t in $(UNIT_BINS); do echo "== $$t"; $$t; done

e2e: all $(E2E_C_BINS)
	@BUILD=$(BUILD) tests/e2e/run.sh

test: unit e2e

# Every failpoint: volshift killed there, then resumed (tests/e2e/test_resume.sh).
FAILPOINTS_ALL := dest:before dest:after warm:before warm:after arm:done stop:before stop:after copy:before copy:after verify:before verify:after swap:before \
	swap:retained swap:original-deleted swap:temporary-deleted swap:claim-created swap:pinned swap:claim-bound \
	swap:policy-restored swap:after start:before statefulset:saved statefulset:deleted start:after release:before \
	release:after
# Every failpoint in every scenario, then all of it again under API faults from volshift-sim, with
# up to 4 groups in flight and the warm copy on; then a rollback from every failpoint before the
# workloads start on the destination, also both ways.
RESUME_SCENARIOS_ALL := deployment statefulset namespaces nodelocal
# Every failpoint inside an access-mode probe (src/migrate/preflight.c, probe.c): volshift killed
# there, then migrate, resume and rollback must remove what it left (tests/e2e/test_probes.sh),
# also with API faults from volshift-sim during that command.
PROBE_POINTS_ALL := probe:lease-created probe:claim-created probe:pod-running probe:pod-removed probe:claim-deleted \
	probe:volume-removed
ROLLBACK_POINTS_ALL := $(filter-out start:% statefulset:% release:%,$(FAILPOINTS_ALL))
# Inside a group of two claims (a Deployment with two, a StatefulSet of two replicas): after the
# first claim's copy, and at every point of the second claim's swap, the first one switched.
ROLLBACK_GROUP_POINTS_ALL := copy:after@1 verify:after@1 swap:after@1 $(addsuffix @2,$(filter swap:%,$(FAILPOINTS_ALL)))
# A plan's step boundaries (src/engine/run.c): volshift killed at each of every step of both examples,
# then resumed, and apart undone from there (tests/e2e/test_plans.sh).
PLAN_POINTS_ALL := plan:before plan:intent plan:applied plan:done
faults: all
	@rc=0; \
	PROBE_POINTS="$(PROBE_POINTS_ALL)" BUILD=$(BUILD) tests/e2e/run.sh test_probes.sh || rc=1; \
	PROBE_POINTS="$(PROBE_POINTS_ALL)" PROBE_API_FAULTS=0.05 BUILD=$(BUILD) tests/e2e/run.sh test_probes.sh || rc=1; \
	ROLLBACK_POINTS="$(ROLLBACK_POINTS_ALL)" ROLLBACK_GROUP_POINTS="$(ROLLBACK_GROUP_POINTS_ALL)" \
		BUILD=$(BUILD) tests/e2e/run.sh test_rollback.sh || rc=1; \
	ROLLBACK_POINTS="$(ROLLBACK_POINTS_ALL)" ROLLBACK_GROUP_POINTS="$(ROLLBACK_GROUP_POINTS_ALL)" ROLLBACK_API_FAULTS=0.05 \
		BUILD=$(BUILD) tests/e2e/run.sh test_rollback.sh || rc=1; \
	CONCURRENT_RUNS=10 BUILD=$(BUILD) tests/e2e/run.sh test_concurrent.sh || rc=1; \
	CONCURRENT_RUNS=6 CONCURRENT_API_FAULTS=0.05 BUILD=$(BUILD) tests/e2e/run.sh test_concurrent.sh || rc=1; \
	VS_MIGRATE_FLAGS="--parallel 4" RESUME_POINTS="$(FAILPOINTS_ALL)" RESUME_SCENARIOS="$(RESUME_SCENARIOS_ALL)" \
		BUILD=$(BUILD) tests/e2e/run.sh test_resume.sh || rc=1; \
	VS_MIGRATE_FLAGS="--parallel 4" RESUME_POINTS="$(FAILPOINTS_ALL)" RESUME_SCENARIOS="$(RESUME_SCENARIOS_ALL)" \
		RESUME_API_FAULTS=0.05 BUILD=$(BUILD) tests/e2e/run.sh test_resume.sh || rc=1; \
	PLAN_POINTS="$(PLAN_POINTS_ALL)" BUILD=$(BUILD) tests/e2e/run.sh test_plans.sh || rc=1; \
	exit $$rc

sanitize:
	@$(MAKE) --no-print-directory SANITIZE=1 test

# The threaded code under ThreadSanitizer (build-tsan): the unit tests (the journal's renewer, the
# client's outage clock, volshift-sim's controllers and nodes), then migrations with groups in
# flight (TSAN_E2E), volshift and volshift-sim both instrumented; a report fails the run.
TSAN_E2E ?= test_migrate_parallel.sh test_stop.sh
tsan:
	@$(MAKE) --no-print-directory TSAN=1 all unit $(patsubst tests/e2e/%.c,build-tsan/tests/e2e_%,$(E2E_C_SRC))
	@TSAN_OPTIONS="halt_on_error=1 exitcode=66 $(TSAN_OPTIONS)" BUILD=build-tsan tests/e2e/run.sh $(TSAN_E2E)

demo: all
	@scripts/demo.sh

# The benchmark on volshift-sim (scripts/bench.sh): a table on stdout, the same as JSON in
# $(BUILD)/bench.json; about 6 minutes on 2 cores.
bench: all $(BENCH_BINS)
	@BUILD=$(BUILD) scripts/bench.sh

format:
	clang-format -i $(UTIL_SRC) $(KUBE_SRC) $(MIGRATE_SRC) $(JOURNAL_SRC) $(ENGINE_SRC) $(S3_SRC) $(CLI_SRC) $(SIM_SRC) sim/main.c $(UNIT_SRC) $(E2E_C_SRC) $(BENCH_SRC) $(FUZZ_SRC) src/*/*.h sim/*.h

# Fuzz targets (tests/fuzz/fuzz_*.c, libFuzzer from clang): each built against the libraries
# compiled with clang's sanitizers into build-fuzz, then run for FUZZ_SECONDS (60) from its corpus
# in build-fuzz/corpus/NAME and its seeds in tests/fuzz/seeds/NAME. A target for another parser only has to be dropped into tests/fuzz/.
FUZZ_SECONDS ?= 60
FUZZ_SRC := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BINS := $(patsubst tests/fuzz/%.c,$(BUILD)/fuzz/%,$(FUZZ_SRC))
$(BUILD)/fuzz/%: $(BUILD)/obj/tests/fuzz/%.o $(ENGINE_LIB) $(MIGRATE_LIB) $(JOURNAL_LIB) $(S3_LIB) $(KUBE_LIB) $(UTIL_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -fsanitize=fuzzer -o $@ $^ $(PKG_LIBS)
# volshift-sim's parsers link the sim's library instead.
$(BUILD)/fuzz/fuzz_sim_%: $(BUILD)/obj/tests/fuzz/fuzz_sim_%.o $(SIM_LIB) $(UTIL_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -fsanitize=fuzzer -o $@ $^ $(PKG_LIBS)
fuzz-build: $(FUZZ_BINS)
fuzz:
	@$(MAKE) --no-print-directory FUZZ=1 CC=clang fuzz-build
	@set -e; for t in $(patsubst tests/fuzz/%.c,%,$(FUZZ_SRC)); do \
		echo "== $$t ($(FUZZ_SECONDS) s)"; mkdir -p build-fuzz/corpus/$$t; \
		build-fuzz/fuzz/$$t -max_total_time=$(FUZZ_SECONDS) -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
			-print_final_stats=1 build-fuzz/corpus/$$t $$(ls -d tests/fuzz/seeds/$$t 2>/dev/null) 2>&1 | grep -E '^(#[0-9]+.*DONE|stat::number_of_executed_units|==[0-9]+==|SUMMARY|INFO: Seed)' ; \
		test $${PIPESTATUS[0]} -eq 0; \
	done

clean:
	rm -rf build build-san build-tsan build-fuzz

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)

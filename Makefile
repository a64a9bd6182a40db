# mnistsec - build, test, benchmark and reproduce.
#
#   make                 build ./mnistsec (tuned for this machine: -O3 -march=native)
#   make PORTABLE=1      build without -march=native
#   make check           unit tests, CLI tests, smoke run on a data subset, sanitizer run
#   make run             build, fetch MNIST if missing, run the baseline
#   make data            download MNIST into data/mnist (SHA-256 checked)
#   make bench           speed benchmark (results/bench.csv)
#   make SAN=address,undefined   sanitizer build (use with BUILD=build-san)
#
# Required flags live in REQ_CFLAGS; CFLAGS from the command line adds to them.

CC ?= cc
PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
BUILD ?= build

REQ_CFLAGS = -std=c11 -Iinclude -Wall -Wextra -Wpedantic -Wshadow -Wstrict-prototypes \
             -Wmissing-prototypes -Wvla -D_POSIX_C_SOURCE=200809L -MMD -MP
ifeq ($(PORTABLE),1)
OPT_CFLAGS ?= -O2
else
OPT_CFLAGS ?= -O3 -march=native
endif
CFLAGS ?= -g
ifneq ($(SAN),)
SAN_FLAGS = -fsanitize=$(SAN) -fno-sanitize-recover=all -fno-omit-frame-pointer
OPT_CFLAGS = -O1 -g
endif
ALL_CFLAGS = $(REQ_CFLAGS) $(OPT_CFLAGS) $(SAN_FLAGS) $(CFLAGS)
LDLIBS = -lm

MNIST_DIR ?= data/mnist
export MNIST_DIR

LIB_SRC := $(filter-out src/main.c,$(wildcard src/*.c))
LIB_OBJ := $(LIB_SRC:src/%.c=$(BUILD)/obj/%.o)
TEST_SRC := $(wildcard tests/test_*.c)
TEST_BIN := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)
FUZZ_SRC := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_REPLAY := $(FUZZ_SRC:tests/fuzz/%.c=$(BUILD)/fuzz/replay_%)

.PHONY: all check unit-tests test-bins run data bench clean install uninstall fuzz-replay

all: mnistsec

ifeq ($(BUILD),build)
mnistsec: $(BUILD)/mnistsec
	cp $< $@.tmp && mv -f $@.tmp $@
else
mnistsec: $(BUILD)/mnistsec
endif

$(BUILD)/mnistsec: $(BUILD)/obj/main.o $(BUILD)/libmnistsec.a
	$(CC) $(ALL_CFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/libmnistsec.a: $(LIB_OBJ)
	rm -f $@
	ar rcs $@ $^

$(BUILD)/obj/%.o: src/%.c | $(BUILD)/obj
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

# The manifest's "build" object: the flags and the source revision are compiled into
# build_info.o, rebuilt whenever either changes (build_info.stamp holds them).
SOURCE_REV := $(shell sh scripts/source_rev.sh 2>/dev/null || echo unknown)
BUILD_INFO := $(ALL_CFLAGS) | $(SOURCE_REV)
$(BUILD)/build_info.stamp: FORCE | $(BUILD)/obj
	@printf '%s\n' '$(BUILD_INFO)' | cmp -s - $@ || printf '%s\n' '$(BUILD_INFO)' > $@
$(BUILD)/obj/build_info.o: src/build_info.c $(BUILD)/build_info.stamp | $(BUILD)/obj
	$(CC) $(ALL_CFLAGS) -DMNISTSEC_CFLAGS='"$(filter-out -MMD -MP -Iinclude,$(ALL_CFLAGS))"' \
	    -DMNISTSEC_REVISION='"$(SOURCE_REV)"' -c -o $@ $<
.PHONY: FORCE
FORCE:

$(BUILD)/tests/%: tests/%.c tests/test.h tests/gradcheck.h $(BUILD)/libmnistsec.a | $(BUILD)/tests
	$(CC) $(ALL_CFLAGS) -Itests -o $@ $< $(BUILD)/libmnistsec.a $(LDLIBS)

$(BUILD)/fuzz/replay_%: tests/fuzz/%.c tests/fuzz/replay.c $(BUILD)/libmnistsec.a | $(BUILD)/fuzz
	$(CC) $(ALL_CFLAGS) -Itests -o $@ $< tests/fuzz/replay.c $(BUILD)/libmnistsec.a $(LDLIBS)

$(BUILD)/obj $(BUILD)/tests $(BUILD)/fuzz:
	mkdir -p $@

test-bins: $(BUILD)/mnistsec $(TEST_BIN) $(FUZZ_REPLAY)

# Unit tests, CLI tests and fuzz-corpus replay (no MNIST needed), one build.
unit-tests: test-bins
	sh tests/run.sh $(BUILD)

# The test command of README.md: everything CI runs.
check:
	sh scripts/check.sh

data:
	sh scripts/get_mnist.sh data/mnist

# Speed of every workload, ours and PyTorch's if installed (results/bench*.csv).
bench: $(BUILD)/tests/bench_main
	sh scripts/bench.sh $(BUILD)

run: all
	sh scripts/run_baseline.sh

MANDIR ?= $(PREFIX)/share/man/man1

install: all
	mkdir -p $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)
	cp mnistsec $(DESTDIR)$(BINDIR)/mnistsec
	cp docs/mnistsec.1 $(DESTDIR)$(MANDIR)/mnistsec.1

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/mnistsec $(DESTDIR)$(MANDIR)/mnistsec.1

clean:
	rm -rf build build-* mnistsec

# Security checks: static analysis (docs/SAST.md) and libFuzzer runs of the parsers.
.PHONY: sast fuzz mutation
# Deliberate bugs the tests must catch (docs/MUTATION.md with WRITE=1).
mutation:
	sh scripts/mutation.sh
FUZZ_SECONDS ?= 60
sast:
	SAST_CFLAGS="$(filter-out -MMD -MP,$(REQ_CFLAGS)) $(OPT_CFLAGS)" sh scripts/sast.sh
fuzz:
	sh scripts/fuzz.sh $(FUZZ_SECONDS) build-fuzz

-include $(LIB_OBJ:.o=.d) $(BUILD)/obj/main.d

# The published models under every attack (results/robustness/, needs make report).
.PHONY: robustness
robustness: all
	sh scripts/robustness.sh

# Seed-to-seed variation on full MNIST: mnistsec once per seed of SEEDS
# (results/seeds/), PyTorch once per seed of TORCH_SEEDS (results/torch_reference.csv,
# keeping its rows of other seeds; needs Debian's python3-torch); make report then
# compares them.
SEEDS ?= 1 2 3 4 5 6 7 8 9 10
TORCH_SEEDS ?= 0 1 2 3 4 5 6 7 8 9
TORCH_THREADS ?= 1
.PHONY: seeds torch-seeds
seeds: all
	sh scripts/seeds.sh $(SEEDS)
torch-seeds:
	LD_LIBRARY_PATH=/usr/lib/x86_64-linux-gnu/openblas-openmp THREADS=$(TORCH_THREADS) \
	    /usr/bin/python3 scripts/torch_reference.py $(MNIST_DIR) results/torch_reference.csv $(TORCH_SEEDS)

# Reproduce the published tables on full MNIST (results/*/, results/REPORT.md).
.PHONY: report table-baseline table-poisoned table-fgsm table-advtrain
report: all
	sh scripts/report.sh all
table-baseline: all
	sh scripts/report.sh run baseline && sh scripts/report.sh table baseline
table-poisoned: all
	sh scripts/report.sh run poisoned && sh scripts/report.sh table poisoned
table-fgsm: all
	sh scripts/report.sh run adv_only && sh scripts/report.sh table fgsm
table-advtrain: all
	sh scripts/report.sh run adv_training && sh scripts/report.sh table advtrain

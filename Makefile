# capstream build. `make` builds build/capstream; `make test` builds and runs
# every test; `make asan-test` runs the whole suite under ASan+UBSan in
# build-asan/, `make tsan-test` the threaded analysis and the feeds cache's
# builder thread under TSan in build-tsan/; `make fuzz` builds the libFuzzer
# harnesses in build-fuzz/ and `make fuzz-run` runs each briefly. `make
# release` / `make debug` pick the optimisation preset (release is the
# default).
#
# The inner loop: `make quick` builds and runs, in parallel, the unit tests
# that need nothing outside the repository (no network, no root, no tshark,
# no web/node_modules), after `make layers` checks that no include of src/
# points up; `make unit T=fix` builds and runs one (build/tests/test_fix).
# Only build/capstream links the web UI's assets, so no unit test, fuzzer
# or library build runs npm.

SHELL   := /bin/bash
BUILD   ?= build
CC      ?= cc
PRESET  ?= release
PKGS    := libpcap jansson libzstd libmicrohttpd libcurl

ifeq ($(PRESET),debug)
OPT := -O0 -g3
else ifeq ($(PRESET),tsan)
OPT := -O1 -g -fsanitize=thread -fno-omit-frame-pointer
LDSAN := -fsanitize=thread
else ifeq ($(PRESET),asan)
OPT := -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
LDSAN := -fsanitize=address,undefined
else
OPT := -O2 -g -DNDEBUG
endif

WARN    := -Wall -Wextra -Werror -Wshadow -Wno-unused-parameter -Wstrict-prototypes -Wvla
CFLAGS  ?=
CPPFLAGS += -D_GNU_SOURCE -Isrc
ALLCFLAGS = -std=c11 $(OPT) $(WARN) -MMD -MP $(CFLAGS) $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
# libmicrohttpd is opened by the server when it starts (src/server/mhd.h),
# by the soname of the one compiled against, not linked into every command
MHD_SONAME := $(shell objdump -p $$(pkg-config --variable=libdir libmicrohttpd 2>/dev/null)/libmicrohttpd.so 2>/dev/null | awk '/SONAME/ {print $$2}')
CPPFLAGS += $(if $(MHD_SONAME),-DCS_MHD_SONAME='"$(MHD_SONAME)"')
LDLIBS  := $(filter-out -lmicrohttpd,$(shell pkg-config --libs $(PKGS) 2>/dev/null || echo -lpcap -ljansson -lzstd -lcurl)) -lpthread -lm

SRCS     := $(shell find src -name '*.c' | sort)
LIB_SRCS := $(filter-out src/cli/main.c,$(SRCS))
LIB_OBJS := $(LIB_SRCS:%.c=$(BUILD)/obj/%.o)
WEB_OBJ  := $(BUILD)/obj/gen/webassets.o
MAIN_OBJ := $(BUILD)/obj/src/cli/main.o
LIB      := $(BUILD)/libcapstream.a
BIN      := $(BUILD)/capstream

TEST_SRCS := $(sort $(wildcard tests/unit/test_*.c))
TEST_BINS := $(TEST_SRCS:tests/unit/%.c=$(BUILD)/tests/%)
TEST_HELP := $(filter-out $(TEST_SRCS),$(wildcard tests/unit/*.c))

# Unit tests that need more than the repository, python3 and the build's
# libraries: test_afpacket builds veth pairs in a network namespace (root);
# these compare decoding with tshark's. `make quick` runs all the others.
TESTS_NEED_ROOT   := test_afpacket
TESTS_NEED_TSHARK := test_dissect test_dns test_fix test_http
QUICK_BINS := $(filter-out $(patsubst %,$(BUILD)/tests/%,$(TESTS_NEED_ROOT) $(TESTS_NEED_TSHARK)),$(TEST_BINS))
QUICK_LOGS := $(QUICK_BINS:%=%.log)
QUICK_JOBS ?= $(shell nproc 2>/dev/null || echo 2)

FUZZ_SRCS := $(sort $(wildcard tests/fuzz/fuzz_*.c))
FUZZ_BINS := $(FUZZ_SRCS:tests/fuzz/%.c=build-fuzz/%)

.PHONY: all release debug test unit quick layers golden asan-test tsan-test fuzz fuzz-run clean format bench check demo demo-cluster tour FORCE
all: $(BIN)

release:
	$(MAKE) PRESET=release
debug:
	$(MAKE) PRESET=debug BUILD=build-debug

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(ALLCFLAGS) -c $< -o $@

# The web UI (web/): npm installs uPlot into web/node_modules (once; offline
# afterwards), web/build.sh assembles DIR/web, scripts/embed.py turns it into
# DIR/gen/webassets.c (the table static.c serves), compiled and linked into
# build/capstream only: the library leaves cs_webassets undefined, so a test
# program that serves the UI brings a table of its own (test_server.c).
WEB_SRCS := web/index.html web/fixdict.js web/format.js web/packet.js web/app.js web/style.css web/build.sh web/package-lock.json scripts/embed.py

web/node_modules/.package-lock.json: web/package.json web/package-lock.json
	@command -v npm >/dev/null || { echo "capstream: npm is needed once to install web/node_modules (uPlot): apt-get install npm" >&2; exit 1; }
	npm ci --prefix web --no-audit --no-fund || { echo "capstream: 'npm ci --prefix web' failed: is the npm registry reachable? (needed once; the build is offline afterwards)" >&2; exit 1; }
	@touch $@

%/gen/webassets.c: $(WEB_SRCS) web/node_modules/.package-lock.json
	web/build.sh $*/web
	python3 scripts/embed.py $*/web $@

$(WEB_OBJ): $(BUILD)/gen/webassets.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(ALLCFLAGS) -c $< -o $@

$(LIB): $(LIB_OBJS)
	@rm -f $@
	ar rcs $@ $^

$(BIN): $(MAIN_OBJ) $(WEB_OBJ) $(LIB)
	$(CC) $(OPT) $(LDSAN) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/%: tests/unit/%.c $(TEST_HELP) $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) -Itests/unit $(ALLCFLAGS) -o $@ $< $(TEST_HELP) $(LIB) $(LDSAN) -lcmocka $(LDLIBS)

# `make unit` runs every unit test, one after the other; `make unit T=fix`
# runs build/tests/test_fix alone.
unit: $(if $(T),$(BUILD)/tests/test_$(T),$(TEST_BINS))
	@set -e; for t in $^; do echo "== $$t"; CS_TEST_BUILD=$(BUILD) $$t; done

# `make layers`: every include of src/ points down the order of folders
# (core -> packet -> record -> source -> flow -> decode -> analytics ->
# store -> engine -> server -> cli); scripts/check_layers.py names each
# include that points up. `quick` and `check` run it first.
layers:
	@python3 scripts/check_layers.py src

# `make quick`: the self-contained unit tests, QUICK_JOBS at a time. Each
# one's output goes to build/tests/test_X.log (test_X.log.failed if it
# failed, printed too); the closing line counts the programs.
quick: layers
	@rm -f $(QUICK_LOGS) $(QUICK_LOGS:%=%.failed)
	@$(MAKE) --no-print-directory -k -j$(QUICK_JOBS) $(QUICK_LOGS); \
	    passed=$$(ls $(QUICK_LOGS) 2>/dev/null | wc -l); total=$(words $(QUICK_LOGS)); \
	    echo "quick: $$passed passed, $$((total - passed)) failed"; [ "$$passed" -eq "$$total" ]

$(BUILD)/tests/%.log: $(BUILD)/tests/% FORCE
	@if CS_TEST_BUILD=$(BUILD) $< >$@.tmp 2>&1; then mv $@.tmp $@; echo "ok   $*"; \
	else mv $@.tmp $@.failed; echo "FAIL $* (output in $@.failed):"; tail -n 40 $@.failed; exit 1; fi

FORCE:

# The browser tests drive Debian's chromium (playwright-core) and firefox-esr
# (puppeteer-core, WebDriver BiDi), both from npm.
tests/browser/node_modules/.package-lock.json: tests/browser/package.json tests/browser/package-lock.json
	npm ci --prefix tests/browser --no-audit --no-fund

golden: $(BIN) tests/browser/node_modules/.package-lock.json
	@CS_BIN=$(abspath $(BIN)) tests/golden/run.sh

test: unit golden
	@echo "all tests passed ($(BUILD))"

asan-test:
	$(MAKE) PRESET=asan BUILD=build-asan test

# `make tsan-test`: the analysis on several threads (tests/golden/t_workers.sh:
# ingest, reanalyze and the daemon with --workers) and the feeds cache's
# builder thread beside the API's request threads (t_feeds_live.sh, about
# 3.5 min under TSan) under ThreadSanitizer; a race makes a command exit 66,
# which the test's checks see.
tsan-test:
	$(MAKE) PRESET=tsan BUILD=build-tsan build-tsan/capstream
	CS_BIN=$(abspath build-tsan/capstream) CS_GOLDEN_ONLY=t_workers tests/golden/run.sh
	CS_BIN=$(abspath build-tsan/capstream) CS_GOLDEN_ONLY=t_feeds_live tests/golden/run.sh

# What CI runs (README): the layer check, the suite, the suite under
# ASan+UBSan, the threaded analysis under TSan, short fuzzing.
check: layers
	$(MAKE) test
	$(MAKE) asan-test
	$(MAKE) tsan-test
	$(MAKE) fuzz-run FUZZ_SECONDS=15

# The README's first command: the live daemon on built-in synthetic traffic,
# serving the web UI (until Ctrl-C). `make tour` walks the bundled sample
# capture through the CLI instead.
DEMO_LISTEN ?= 127.0.0.1:8642
demo: $(BIN)
	$(BIN) demo --listen $(DEMO_LISTEN)

# ClickHouse, two demo sensors exporting to it and a hub over both
# (scripts/demo-cluster.sh; the hub's UI on 127.0.0.1:8650)
demo-cluster: $(BIN)
	@scripts/demo-cluster.sh $(BIN)

TOUR_STORE ?= demo-store
tour: $(BIN)
	@scripts/demo.sh $(BIN) $(TOUR_STORE)

# Fuzzers link against a library built with the fuzzer's instrumentation, so
# a harness that defines a symbol (the decoder harness's cs_decode_emit)
# replaces the library's without a clash.
FUZZ_CFLAGS := -std=c11 -g -O1 -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all \
	$(CPPFLAGS) \
	$(shell pkg-config --cflags $(PKGS) 2>/dev/null)
FUZZ_OBJS := $(LIB_SRCS:%.c=build-fuzz/obj/%.o)

build-fuzz/obj/%.o: %.c
	@mkdir -p $(dir $@)
	clang $(FUZZ_CFLAGS) -MMD -MP -c $< -o $@

# (headers the fuzz objects include: a changed struct rebuilds them)
-include $(FUZZ_OBJS:.o=.d)

build-fuzz/libcapstream.a: $(FUZZ_OBJS)
	@rm -f $@
	ar rcs $@ $^

build-fuzz/%: tests/fuzz/%.c build-fuzz/libcapstream.a
	clang $(FUZZ_CFLAGS) -fsanitize=fuzzer -Itests/fuzz -o $@ $< build-fuzz/libcapstream.a $(LDLIBS)

fuzz: $(FUZZ_BINS)

FUZZ_SECONDS ?= 20
fuzz-run: fuzz
	@set -e; for f in $(FUZZ_BINS); do n=$$(basename $$f); \
	    mkdir -p build-fuzz/corpus/$$n; \
	    dirs=build-fuzz/corpus/$$n; \
	    for d in tests/fuzz/seeds/$$n tests/fuzz/regress/$$n; do [ -d $$d ] && dirs="$$dirs $$d"; done; \
	    echo "== fuzz $$n ($(FUZZ_SECONDS)s)"; \
	    if ! $$f -max_total_time=$(FUZZ_SECONDS) -max_len=65536 -print_final_stats=1 $$dirs \
	        >build-fuzz/$$n.log 2>&1; then tail -40 build-fuzz/$$n.log; exit 1; fi; \
	    grep -E "stat::number_of_executed_units" build-fuzz/$$n.log || true; \
	done

bench: $(BIN)
	bench/run.sh

format:
	clang-format -i $(SRCS) $(shell find src tests -name '*.h') $(TEST_SRCS) $(FUZZ_SRCS)

clean:
	rm -rf build build-asan build-debug build-tsan build-fuzz

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)

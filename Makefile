# capstream build. `make` builds build/capstream; `make test` builds and runs
# every test; `make asan-test` runs the whole suite under ASan+UBSan in
# build-asan/; `make fuzz` builds the libFuzzer harnesses in build-fuzz/ and
# `make fuzz-run` runs each briefly. `make release` / `make debug` pick the
# optimisation preset (release is the default).

BUILD   ?= build
CC      ?= cc
PRESET  ?= release
PKGS    := libpcap jansson libzstd

ifeq ($(PRESET),debug)
OPT := -O0 -g3
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
LDLIBS  := $(shell pkg-config --libs $(PKGS) 2>/dev/null || echo -lpcap -ljansson -lzstd) -lpthread -lm

SRCS     := $(shell find src -name '*.c' | sort)
LIB_SRCS := $(filter-out src/cli/main.c,$(SRCS))
LIB_OBJS := $(LIB_SRCS:%.c=$(BUILD)/obj/%.o)
MAIN_OBJ := $(BUILD)/obj/src/cli/main.o
LIB      := $(BUILD)/libcapstream.a
BIN      := $(BUILD)/capstream

TEST_SRCS := $(sort $(wildcard tests/unit/test_*.c))
TEST_BINS := $(TEST_SRCS:tests/unit/%.c=$(BUILD)/tests/%)
TEST_HELP := $(filter-out $(TEST_SRCS),$(wildcard tests/unit/*.c))

FUZZ_SRCS := $(sort $(wildcard tests/fuzz/fuzz_*.c))
FUZZ_BINS := $(FUZZ_SRCS:tests/fuzz/%.c=build-fuzz/%)

.PHONY: all release debug test unit golden asan-test fuzz fuzz-run clean format bench
all: $(BIN)

release:
	$(MAKE) PRESET=release
debug:
	$(MAKE) PRESET=debug BUILD=build-debug

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(ALLCFLAGS) -c $< -o $@

$(LIB): $(LIB_OBJS)
	@rm -f $@
	ar rcs $@ $^

$(BIN): $(MAIN_OBJ) $(LIB)
	$(CC) $(OPT) $(LDSAN) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/%: tests/unit/%.c $(TEST_HELP) $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) -Itests/unit $(ALLCFLAGS) -o $@ $< $(TEST_HELP) $(LIB) $(LDSAN) -lcmocka $(LDLIBS)

unit: $(TEST_BINS)
	@set -e; for t in $(TEST_BINS); do echo "== $$t"; CS_TEST_BUILD=$(BUILD) $$t; done

golden: $(BIN)
	@CS_BIN=$(abspath $(BIN)) tests/golden/run.sh

test: unit golden
	@echo "all tests passed ($(BUILD))"

asan-test:
	$(MAKE) PRESET=asan BUILD=build-asan test

build-fuzz/%: tests/fuzz/%.c $(LIB_SRCS)
	@mkdir -p build-fuzz
	clang -std=c11 -g -O1 -fsanitize=fuzzer,address,undefined $(CPPFLAGS) $(shell pkg-config --cflags $(PKGS)) \
	    -o $@ $< $(LIB_SRCS) $(LDLIBS)

fuzz: $(FUZZ_BINS)

FUZZ_SECONDS ?= 20
fuzz-run: fuzz
	@set -e; for f in $(FUZZ_BINS); do n=$$(basename $$f); \
	    mkdir -p build-fuzz/corpus/$$n; \
	    seeds=tests/fuzz/seeds/$$n; [ -d $$seeds ] || seeds=; \
	    echo "== fuzz $$n ($(FUZZ_SECONDS)s)"; \
	    $$f -max_total_time=$(FUZZ_SECONDS) -max_len=65536 -print_final_stats=0 \
	        build-fuzz/corpus/$$n $$seeds tests/fuzz/regress/$$n 2>&1 | tail -3; \
	    if [ -d tests/fuzz/regress/$$n ]; then $$f tests/fuzz/regress/$$n/* >/dev/null 2>&1; fi; \
	done

bench: $(BIN)
	bench/run.sh

format:
	clang-format -i $(SRCS) $(shell find src tests -name '*.h') $(TEST_SRCS) $(FUZZ_SRCS)

clean:
	rm -rf build build-asan build-debug build-fuzz

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)

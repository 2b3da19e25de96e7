# oneshot — build, test, bench, demo.
#   make            library build/liboneshot.a and the command build/oneshot
#   make test       Criterion suite (installs missing Debian packages first)
#   make test SANITIZE=1   the same suite under AddressSanitizer + UBSan
#   make bench      microbenchmarks
#   make demo       a short real DARTS search on Fashion-MNIST
#   make fuzz       libFuzzer runs of the dataset readers (FUZZ_SECONDS=60 each)
CC      ?= cc
BUILD   ?= build
OPT     ?= -O3 -march=native
CFLAGS  += -std=c11 -D_GNU_SOURCE -Wall -Wextra -Wshadow -Wno-unused-parameter \
           -fopenmp -I. -I/usr/include/stb $(OPT) -g
LDLIBS  += -lopenblas -lstb -lcjson -lz -lm -lpthread -fopenmp

ifeq ($(SANITIZE),1)
BUILD   := $(BUILD)-san
OPT     := -O1
CFLAGS  += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
LDFLAGS += -fsanitize=address,undefined
endif

LIB_SRC  := $(wildcard tensor/*.c autograd/*.c ops/*.c ops/cpu/*.c supernet/*.c \
                       supernet/spaces/*.c datasets/*.c search/*.c oneshot/*.c)
LIB_SRC  := $(filter-out oneshot/main.c,$(LIB_SRC))
LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/obj/%.o)
TEST_SRC := $(wildcard tests/*.c)
TEST_OBJ := $(TEST_SRC:%.c=$(BUILD)/obj/%.o)
BENCH_SRC:= $(wildcard bench/*.c)

.PHONY: all deps test bench demo fuzz clean ref
all: deps $(BUILD)/oneshot

deps:
	@scripts/deps.sh build

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/liboneshot.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/oneshot: $(BUILD)/obj/oneshot/main.o $(BUILD)/liboneshot.a
	$(CC) $(LDFLAGS) $< $(BUILD)/liboneshot.a -o $@ $(LDLIBS)

$(BUILD)/run_tests: $(TEST_OBJ) $(BUILD)/liboneshot.a
	$(CC) $(LDFLAGS) $(TEST_OBJ) $(BUILD)/liboneshot.a -o $@ $(LDLIBS) -lcriterion

# Tests run from the repository root (fixtures are read from tests/ref/fixtures).
test:
	@scripts/deps.sh test
	$(MAKE) $(BUILD)/run_tests $(BUILD)/oneshot
	OMP_NUM_THREADS=2 $(BUILD)/run_tests --jobs 2 $(TEST_ARGS)

$(BUILD)/bench/%: bench/%.c $(BUILD)/liboneshot.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $< $(BUILD)/liboneshot.a -o $@ $(LDLIBS)

bench:
	@scripts/deps.sh bench
	$(MAKE) $(BENCH_SRC:%.c=$(BUILD)/%)
	@for b in $(BENCH_SRC:%.c=$(BUILD)/%); do $$b || exit 1; done

demo:
	@scripts/deps.sh demo
	$(MAKE) $(BUILD)/oneshot
	scripts/demo.sh

# libFuzzer harnesses of the dataset readers, FUZZ_SECONDS each, one at a time.
FUZZ_SECONDS ?= 60
fuzz:
	@scripts/deps.sh fuzz
	scripts/fuzz.sh $(FUZZ_SECONDS)

ref:
	@scripts/deps.sh ref
	cd tests/ref && /usr/bin/python3 gen_engine.py
	cd tests/ref && /usr/bin/python3 gen_supernet.py

clean:
	rm -rf build build-san

-include $(LIB_OBJ:.o=.d) $(TEST_OBJ:.o=.d)

# oneshot — build, test, bench, demo, install.
#   make            build/liboneshot.a, build/liboneshot.so (soname liboneshot.so.0)
#                   and the command build/oneshot, tuned for this CPU (-march=native)
#   make PORTABLE=1 the same for any x86-64 (no -march=native), in build-portable/:
#                   the build to package (make install PORTABLE=1 PREFIX=/usr DESTDIR=...)
#   make test       Criterion suite, then example-check (installs missing Debian packages first)
#   make test SANITIZE=1   the same suite under AddressSanitizer + UBSan, in build-san/
#   make example-check     installs into $(BUILD)/prefix, builds each examples/*.c with
#                   pkg-config against liboneshot.so and against liboneshot.a, runs both
#   make install    PREFIX=/usr/local (and DESTDIR): lib/liboneshot.{a,so*}, include/*,
#                   lib/pkgconfig/oneshot.pc, bin/oneshot; of the build selected
#                   (PORTABLE=1, SANITIZE=1 or the native default)
#   make uninstall  removes what make install put there (same PREFIX, DESTDIR)
#   make bench      microbenchmarks
#   make demo       a short real DARTS search on Fashion-MNIST
#   make fuzz       libFuzzer runs of the readers: datasets, checkpoints, architectures (FUZZ_SECONDS=60 each)
CC      ?= cc
BUILD   ?= build
OPT     ?= -O3 -march=native
VERSION := 0.1.0
SOVERSION := 0
# -fPIC for every object: the same objects make liboneshot.a and liboneshot.so.
# -fno-semantic-interposition keeps calls inside the library inlinable.
CFLAGS  += -std=c11 -D_GNU_SOURCE -Wall -Wextra -Wpedantic -Wshadow -Wno-unused-parameter \
           -fopenmp -fPIC -fno-semantic-interposition -I. -I/usr/include/stb $(OPT) -g
# What liboneshot needs; also Libs.private of oneshot.pc.
# plot/: Graphviz (libgvc, libcgraph, libcdt) lays out cell graphs, cairo draws PNG and SVG.
DEP_LIBS := -lopenblas -lstb -lcjson -lz -lgvc -lcgraph -lcdt -lcairo -lm -lpthread -fopenmp

# The CUDA backend (ops/cuda/cuda_backend.cu): built when nvcc is found (PATH,
# else /usr/local/cuda/bin/nvcc); `make CUDA=0` builds without it. sm_90
# (H100/H200) plus PTX for later GPUs. cudart is linked statically and
# cuBLAS from the toolkit (rpath), so the binary starts on machines without a
# GPU or driver (--device cuda is then an error, the CPU runs). The CPU
# emulation of the same kernels (ops/cuda/*.c) is always built.
CUDA    ?= 1
NVCC    ?= $(or $(shell command -v nvcc 2>/dev/null),$(wildcard /usr/local/cuda/bin/nvcc))
ifeq ($(CUDA),0)
CUDA_ON :=
else
CUDA_ON := $(if $(NVCC),1)
endif
ifeq ($(CUDA_ON),1)
CUDA_HOME ?= $(patsubst %/bin/,%,$(dir $(realpath $(NVCC))))
CUDA_LIBS := -L$(CUDA_HOME)/lib64 -Wl,-rpath,$(CUDA_HOME)/lib64 -lcublas -lcudart_static -ldl -lrt -lpthread -lstdc++
DEP_LIBS  += $(CUDA_LIBS)
NVFLAGS   ?= -O3
NVFLAGS_ALL = -std=c++17 $(NVFLAGS) -gencode arch=compute_90,code=sm_90 -gencode arch=compute_90,code=compute_90 \
            -Xcompiler -fPIC,-Wall,-Wextra,-Wshadow,-Wno-unused-parameter -Werror all-warnings \
            -I. -DOS_HAVE_CUDA=1
endif
LDLIBS  += $(DEP_LIBS)

ifeq ($(PORTABLE),1)
override BUILD := $(BUILD)-portable
OPT     := -O3 -mtune=generic
endif
ifeq ($(SANITIZE),1)
override BUILD := $(BUILD)-san
OPT     := -O1
SAN_FLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
CFLAGS  += $(SAN_FLAGS)
LDFLAGS += -fsanitize=address,undefined
endif

# The library: every layer but the CLI (oneshot/main.c); the CUDA backend's
# nvcc part is added below when CUDA_ON. Missing or empty folders are fine.
LIB_SRC  := $(wildcard tensor/*.c autograd/*.c ops/*.c ops/cpu/*.c ops/cuda/*.c supernet/*.c \
                       supernet/spaces/*.c datasets/*.c search/*.c api/*.c oneshot/*.c)
LIB_SRC  += $(wildcard plot/*.c)
LIB_SRC  := $(filter-out oneshot/main.c,$(LIB_SRC))
LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/obj/%.o)
ifeq ($(CUDA_ON),1)
LIB_OBJ  += $(BUILD)/obj/ops/cuda/cuda_backend.cu.o
endif
LIB_SO   := $(BUILD)/liboneshot.so.$(VERSION)
TEST_SRC := $(wildcard tests/*.c)
TEST_OBJ := $(TEST_SRC:%.c=$(BUILD)/obj/%.o)
BENCH_SRC:= $(wildcard bench/*.c)
EXAMPLES := $(wildcard examples/*.c)

# make install
PREFIX     ?= /usr/local
BINDIR     ?= $(PREFIX)/bin
LIBDIR     ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
HEADERS    := $(patsubst include/%,%,$(shell find include -type f 2>/dev/null))

.PHONY: all deps test example-check install uninstall bench demo fuzz clean ref FORCE
all: deps $(BUILD)/oneshot $(BUILD)/liboneshot.a $(BUILD)/liboneshot.so

deps:
	@scripts/deps.sh build

# Objects are rebuilt when the compiler or its flags change (native/portable,
# -fPIC, ...): $(BUILD)/cflags holds the last command line.
$(BUILD)/cflags: FORCE
	@mkdir -p $(BUILD)
	@echo '$(CC) $(CFLAGS) CUDA=$(CUDA_ON)' | cmp -s - $@ || echo '$(CC) $(CFLAGS) CUDA=$(CUDA_ON)' > $@

$(BUILD)/obj/%.o: %.c $(BUILD)/cflags
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

# the CUDA backend: nvcc, only when CUDA_ON; ops/backends.c then returns it
ifeq ($(CUDA_ON),1)
$(BUILD)/obj/ops/cuda/cuda_backend.cu.o: ops/cuda/cuda_backend.cu $(BUILD)/cflags
	@mkdir -p $(dir $@)
	$(NVCC) $(NVFLAGS_ALL) -MMD -MP -c $< -o $@
$(BUILD)/obj/ops/backends.o: private CFLAGS += -DOS_HAVE_CUDA=1
$(BUILD)/obj/tests/test_cuda_faults.o: private CFLAGS += -DOS_HAVE_CUDA=1
$(BUILD)/obj/tests/test_stage.o: private CFLAGS += -DOS_HAVE_CUDA=1
endif

# Inside the project (the command, tests, bench) everything links the
# internal archive: every object, every os_* symbol.
$(BUILD)/liboneshot-internal.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

# The installed static library shows a user the oneshot_* API only, as the
# shared one does: the objects are linked into one (ld -r) whose other
# global symbols are made local (objcopy), so a program of the user's own
# that defines os_tensor_new or os_fatal does not clash with ours.
$(BUILD)/liboneshot.a: $(LIB_OBJ)
	@rm -f $@ $(BUILD)/liboneshot-all.o $(BUILD)/liboneshot.keep
	ld -r -o $(BUILD)/liboneshot-all.o $^
	nm -g --defined-only $(BUILD)/liboneshot-all.o | awk '$$3 ~ /^oneshot_/ {print $$3}' > $(BUILD)/liboneshot.keep
	objcopy --keep-global-symbols=$(BUILD)/liboneshot.keep $(BUILD)/liboneshot-all.o
	ar rcs $@ $(BUILD)/liboneshot-all.o

# liboneshot.so -> liboneshot.so.0 -> liboneshot.so.0.1.0; no undefined symbol
# left; it exports the oneshot_* API only (oneshot.map, a linker version script).
$(LIB_SO): $(LIB_OBJ) oneshot.map
	$(CC) -shared $(LDFLAGS) -Wl,-soname,liboneshot.so.$(SOVERSION) -Wl,-z,defs \
	    -Wl,--version-script=oneshot.map $(LIB_OBJ) -o $@ $(LDLIBS)

$(BUILD)/liboneshot.so: $(LIB_SO)
	ln -sf liboneshot.so.$(VERSION) $(BUILD)/liboneshot.so.$(SOVERSION)
	ln -sf liboneshot.so.$(SOVERSION) $@

# The command links the static library: bin/oneshot needs no LD_LIBRARY_PATH.
$(BUILD)/oneshot: $(BUILD)/obj/oneshot/main.o $(BUILD)/liboneshot-internal.a
	$(CC) $(LDFLAGS) $< $(BUILD)/liboneshot-internal.a -o $@ $(LDLIBS)

# tests/test_plot.c checks SVG files with libxml2 (libxml2-dev)
# tests: Criterion's own macros and the 2-D fixtures passed to const parameters are
# not -Wpedantic clean; the library, the CLI, bench/ and examples/ are
$(BUILD)/obj/tests/%.o: private CFLAGS += -I/usr/include/libxml2 -Wno-pedantic
# a latency table records the build it was measured with
$(BUILD)/obj/search/latency.o: private CFLAGS += -DOS_GIT_COMMIT='"$(shell git rev-parse --short HEAD 2>/dev/null)"' \
	-DOS_BUILD_FLAGS='"$(OPT)"'


$(BUILD)/run_tests: $(TEST_OBJ) $(BUILD)/liboneshot-internal.a
	$(CC) $(LDFLAGS) $(TEST_OBJ) $(BUILD)/liboneshot-internal.a -o $@ $(LDLIBS) -lcriterion -lxml2

# Tests run from the repository root (fixtures are read from tests/ref/fixtures).
test:
	@scripts/deps.sh test
	$(MAKE) $(BUILD)/run_tests $(BUILD)/oneshot
	OMP_NUM_THREADS=2 $(BUILD)/run_tests --jobs 2 $(TEST_ARGS)
	$(MAKE) example-check

# The examples built the way a user builds them: from an installed prefix with
# pkg-config, shared and static, run from the repository root with
# ONESHOT_EXAMPLE_QUICK=1. Under SANITIZE=1 they are built with the same
# sanitizers as the library.
example-check:
ifeq ($(EXAMPLES),)
	@echo "example-check: no examples/*.c, nothing to check"
else
	@scripts/deps.sh example
	rm -rf $(BUILD)/prefix
	$(MAKE) install PREFIX=$(abspath $(BUILD))/prefix DESTDIR=
	CC='$(CC)' EXAMPLE_CFLAGS='$(SAN_FLAGS)' \
	    scripts/example_check.sh $(abspath $(BUILD))/prefix $(BUILD)/examples $(EXAMPLES)
endif

install: all
	@[ -n "$(HEADERS)" ] || echo "install: warning: include/ is empty, no header installed"
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(LIBDIR) $(DESTDIR)$(PKGCONFIGDIR) $(DESTDIR)$(INCLUDEDIR)
	install -m 755 $(BUILD)/oneshot $(DESTDIR)$(BINDIR)/oneshot
	install -m 644 $(BUILD)/liboneshot.a $(DESTDIR)$(LIBDIR)/liboneshot.a
	install -m 755 $(LIB_SO) $(DESTDIR)$(LIBDIR)/liboneshot.so.$(VERSION)
	ln -sf liboneshot.so.$(VERSION) $(DESTDIR)$(LIBDIR)/liboneshot.so.$(SOVERSION)
	ln -sf liboneshot.so.$(SOVERSION) $(DESTDIR)$(LIBDIR)/liboneshot.so
	for h in $(HEADERS); do install -D -m 644 include/$$h $(DESTDIR)$(INCLUDEDIR)/$$h || exit 1; done
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(patsubst $(PREFIX)/%,$${prefix}/%,$(LIBDIR))|' \
	    -e 's|@INCLUDEDIR@|$(patsubst $(PREFIX)/%,$${prefix}/%,$(INCLUDEDIR))|' \
	    -e 's|@VERSION@|$(VERSION)|' -e 's|@LIBS_PRIVATE@|$(DEP_LIBS)|' \
	    oneshot.pc.in > $(DESTDIR)$(PKGCONFIGDIR)/oneshot.pc

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/oneshot $(DESTDIR)$(LIBDIR)/liboneshot.a \
	      $(DESTDIR)$(LIBDIR)/liboneshot.so $(DESTDIR)$(LIBDIR)/liboneshot.so.$(SOVERSION) \
	      $(DESTDIR)$(LIBDIR)/liboneshot.so.$(VERSION) $(DESTDIR)$(PKGCONFIGDIR)/oneshot.pc \
	      $(addprefix $(DESTDIR)$(INCLUDEDIR)/,$(HEADERS))

$(BUILD)/bench/%: bench/%.c bench/bench_util.h $(BUILD)/liboneshot-internal.a $(BUILD)/cflags
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $< $(BUILD)/liboneshot-internal.a -o $@ $(LDLIBS)

bench:
	@scripts/deps.sh bench
	$(MAKE) $(BENCH_SRC:%.c=$(BUILD)/%)
	@for b in $(BENCH_SRC:%.c=$(BUILD)/%); do $$b || exit 1; done

demo:
	@scripts/deps.sh demo
	$(MAKE) $(BUILD)/oneshot
	scripts/demo.sh

# libFuzzer harnesses of the readers (datasets, checkpoints, architectures), FUZZ_SECONDS each, one at a time.
FUZZ_SECONDS ?= 60
fuzz:
	@scripts/deps.sh fuzz
	scripts/fuzz.sh $(FUZZ_SECONDS)

ref:
	@scripts/deps.sh ref
	cd tests/ref && /usr/bin/python3 gen_engine.py
	cd tests/ref && /usr/bin/python3 gen_supernet.py
	cd tests/ref && /usr/bin/python3 gen_enas.py
	cd tests/ref && /usr/bin/python3 gen_proxyless.py

clean:
	rm -rf build build-san build-portable build-portable-san

-include $(LIB_OBJ:.o=.d) $(TEST_OBJ:.o=.d)

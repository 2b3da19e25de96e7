#!/bin/bash
# scripts/gpu_check.sh — the one prepared GPU check of the CUDA backend
# (issue #13), under 10 minutes on an H200. It builds the library with nvcc
# against Debian packages unpacked into a private prefix, runs the
# cross-backend suite, the supernet parity fixture and the fault messages on
# the real GPU (tests/test_cuda_kernels.c, test_cuda_parity.c,
# test_cuda_faults.c), times the DARTS
# search step at paper settings (first and second order) and the DARTS_V2
# retrain step with bench/bench_cuda_step.c, and times the PyTorch yardsticks
# (torch_darts_step.py, torch_darts_child_step.py) on the same GPU; last, the
# retrain step fed by a loader, batches staged through pinned memory
# (search/stage.h, tests/test_stage.c) against copied where used.
#
#   scripts/gpu_check.sh --prepare   here, with the network: apt-get download
#                                    the .deb files into .debs/ and copy the
#                                    PyTorch scripts from ../shared/bench there
#   scripts/gpu_check.sh             on the GPU machine (carry .debs): all of it;
#                                    the log goes to $OUT/gpu_check.log
#   scripts/gpu_check.sh --no-gpu    here: the parts that need no GPU (unpack,
#                                    build with nvcc against the prefix, the
#                                    suites on the emulation; the real-GPU
#                                    tests report that they were not run)
#
# The GPU machine has nvcc and PyTorch but no Debian -dev packages and no
# network: OpenBLAS, cJSON, zlib, stb, Criterion (and what they link) come
# as .deb files, unpacked with dpkg -x into build-gpu/prefix (never into /).
# graphviz and cairo come as headers only: plot/ compiles, and the programs
# built here do not link it. The PyTorch scripts are CPU benchmarks; they run
# on the GPU through torch.set_default_device('cuda') (every tensor and
# module they make is then on the GPU; l.item() in each step synchronises).
set -u -o pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
DEBS=$ROOT/.debs
B=build-gpu
MODE=${1:-gpu}

PKGS="libopenblas-dev libopenblas-pthread-dev libopenblas0-pthread libgfortran5 libquadmath0
      libcjson-dev libcjson1 zlib1g-dev zlib1g libstb-dev libstb0
      libcriterion-dev libcriterion3 libgit2-1.5 libnanomsg5 libhttp-parser2.9 libssh2-1
      libmbedcrypto7 libmbedtls14 libmbedx509-1 libffi8 libpcre2-8-0 libgssapi-krb5-2 libkrb5-3
      libk5crypto3 libkrb5support0 libcom-err2 libkeyutils1 libssl3
      libgraphviz-dev libcairo2-dev"

if [ "$MODE" = --prepare ]; then
    mkdir -p "$DEBS"
    (cd "$DEBS" && apt-get download $PKGS) || exit 1
    cp ../shared/bench/torch_darts_step.py ../shared/bench/torch_darts_child_step.py "$DEBS"/ || exit 1
    du -sh "$DEBS"
    exit 0
fi
[ "$MODE" = gpu ] || [ "$MODE" = --no-gpu ] || { echo "usage: $0 [--prepare|--no-gpu]" >&2; exit 2; }
ls "$DEBS"/*.deb >/dev/null 2>&1 || { echo "gpu_check: no .deb files in $DEBS: run $0 --prepare first" >&2; exit 2; }

OUT=${OUT:-$ROOT/$B/out}
mkdir -p "$OUT" "$B"
LOG=$OUT/gpu_check.log
exec > >(tee "$LOG") 2>&1
START=$SECONDS
BUDGET=${GPU_CHECK_BUDGET:-570} # seconds for everything; each step gets what is left
SCALE=1                          # --no-gpu runs on a small shared CPU machine: 4x the limits
[ "$MODE" = --no-gpu ] && SCALE=4 && BUDGET=$((BUDGET * SCALE))

# run a step with a time limit: min(cap, what is left of the budget)
step() {
    local name=$1 cap=$(($2 * SCALE))
    shift 2
    local left=$((BUDGET - (SECONDS - START)))
    local lim=$((cap < left ? cap : left))
    echo
    echo "=== $name (limit ${lim}s, ${left}s left)"
    if [ "$lim" -lt 5 ]; then
        echo "SKIPPED: out of time"
        return 1
    fi
    local t0=$SECONDS
    timeout "$lim" bash -c '"$@"' step "$@" # bash -c: the exported functions below run too
    local rc=$?
    echo "=== $name: exit $rc after $((SECONDS - t0))s"
    return $rc
}

echo "gpu_check: $(date -u +%FT%TZ) commit $(git rev-parse --short HEAD 2>/dev/null || echo '?') mode $MODE"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv 2>&1 | head -3

# ---- the private prefix ---------------------------------------------------------
P=$ROOT/$B/prefix
rm -rf "$P"
for f in "$DEBS"/*.deb; do dpkg -x "$f" "$P" || exit 1; done
ML=$P/usr/lib/x86_64-linux-gnu
LIBP="$ML:$ML/openblas-pthread"
[ -d "$P/lib/x86_64-linux-gnu" ] && LIBP="$LIBP:$P/lib/x86_64-linux-gnu"
INC="-isystem $P/usr/include -isystem $P/usr/include/x86_64-linux-gnu/openblas-pthread -I$P/usr/include/stb"
LDP="-L$ML -L$ML/openblas-pthread -Wl,-rpath,$ML -Wl,-rpath,$ML/openblas-pthread -Wl,-rpath-link,$ML"

# ---- CUDA ---------------------------------------------------------------------------
NVCC=$(command -v nvcc || ls /usr/local/cuda/bin/nvcc 2>/dev/null)
[ -n "$NVCC" ] || { echo "gpu_check: no nvcc (PATH, /usr/local/cuda/bin)"; exit 1; }
CUDA_HOME=$(cd "$(dirname "$(readlink -f "$NVCC")")/.." && pwd)
"$NVCC" --version | tail -2
CULIB=""
for d in "$CUDA_HOME/lib64" "$CUDA_HOME/targets/x86_64-linux/lib"; do
    [ -e "$d/libcublas.so" ] && [ -e "$d/libcudart_static.a" ] && CULIB=$d && break
done
[ -n "$CULIB" ] || { echo "gpu_check: no libcublas.so + libcudart_static.a under $CUDA_HOME"; exit 1; }
CUDA_LIBS="-L$CULIB -Wl,-rpath,$CULIB -lcublas -lcudart_static -ldl -lrt -lpthread -lstdc++"

# ---- build ---------------------------------------------------------------------------
NJ=${GPU_CHECK_JOBS:-$(nproc 2>/dev/null || echo 2)}
CCMD="cc $INC"
BASE="-std=c11 -D_GNU_SOURCE -O3 -march=native -fopenmp -I. $INC"
LIBS="$LDP -lopenblas -lcjson -lz -lm -fopenmp $CUDA_LIBS"
build() {
    make -j"$NJ" BUILD=$B CUDA=1 NVCC="$NVCC" CUDA_HOME="$CUDA_HOME" CC="$CCMD" $B/liboneshot-internal.a || return 1
    cc $BASE -DOS_HAVE_CUDA=1 tests/test_cuda_kernels.c tests/test_cuda_parity.c tests/test_cuda_faults.c \
        tests/test_stage.c $B/liboneshot-internal.a -o $B/cuda_tests $LIBS -lstb -lcriterion || return 1
    cc $BASE bench/bench_cuda_step.c $B/liboneshot-internal.a -o $B/bench_cuda_step $LIBS || return 1
    LD_LIBRARY_PATH=$LIBP ldd $B/cuda_tests | grep -E "openblas|cjson|criterion|cublas|not found"
}
export B NJ NVCC CUDA_HOME CCMD BASE LIBS LIBP
export -f build
step build 300 build || { echo "gpu_check: build failed"; exit 1; }
export LD_LIBRARY_PATH=$LIBP${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
export OMP_NUM_THREADS=1

# ---- tests: every kernel and the parity fixture on each backend ----------------------------
# (the emulation, the emulation in the debug device, and the real GPU when present)
step cross-backend-tests 200 $B/cuda_tests --verbose -j1
TESTS_RC=$?
if [ "$MODE" = --no-gpu ]; then
    step bench-emulation-smoke 120 $B/bench_cuda_step --device cuda-emu --mode search --steps 1
    echo; echo "gpu_check --no-gpu: done in $((SECONDS - START))s; tests exit $TESTS_RC"
    exit $TESTS_RC
fi

# ---- timings: ours ---------------------------------------------------------------------------
step search-1st-order 90 $B/bench_cuda_step --device cuda --mode search --unrolled 0 \
    --batch 64 --cells 8 --C 16 --size 32 --steps 3 --warmup 1
step search-2nd-order 100 $B/bench_cuda_step --device cuda --mode search --unrolled 1 \
    --batch 64 --cells 8 --C 16 --size 32 --steps 2 --warmup 1
step retrain-darts-v2 100 $B/bench_cuda_step --device cuda --mode retrain \
    --batch 96 --cells 20 --C 36 --size 32 --steps 3 --warmup 1

# ---- timings: PyTorch eager (cuDNN) on the same GPU --------------------------------------------
torch_gpu() { # script args...: run a CPU yardstick with every tensor on the GPU
    local script=$1
    shift
    python3 - "$script" "$@" <<'EOF'
import runpy, sys, torch
torch.set_default_device('cuda')
torch.backends.cudnn.benchmark = False
print(f'torch {torch.__version__} cuda {torch.version.cuda} cudnn {torch.backends.cudnn.version()} on {torch.cuda.get_device_name(0)}')
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name='__main__')
torch.cuda.synchronize()
print(f'peak_gpu_mem_mb {torch.cuda.max_memory_allocated() / 1048576:.0f}')
EOF
}
export -f torch_gpu
step torch-search-1st-order 60 torch_gpu "$DEBS/torch_darts_step.py" --batch 64 --cells 8 --C 16 --size 32 --steps 3 --unrolled 0
step torch-search-2nd-order 60 torch_gpu "$DEBS/torch_darts_step.py" --batch 64 --cells 8 --C 16 --size 32 --steps 3 --unrolled 1
step torch-retrain-darts-v2 60 torch_gpu "$DEBS/torch_darts_child_step.py" --batch 96 --cells 20 --C 36 --size 32 --steps 3

# ---- the staged loader (search/stage.h), last: what budget is left --------------------------------
# batches from a loader: staged through pinned memory (the copy of the next
# overlapping this step) against copied from pageable memory where used
step retrain-loader-staged 60 $B/bench_cuda_step --device cuda --mode retrain --loader 1 \
    --batch 96 --cells 20 --C 36 --size 32 --steps 6 --warmup 2
step retrain-loader-copied 60 $B/bench_cuda_step --device cuda --mode retrain --loader 2 \
    --batch 96 --cells 20 --C 36 --size 32 --steps 6 --warmup 2

echo
echo "gpu_check: done in $((SECONDS - START))s; tests exit $TESTS_RC"
grep -E "^=== |sec_per|peak_gpu|Synthesis" "$LOG" | grep -v "limit" > "$OUT/summary.txt"
exit $TESTS_RC

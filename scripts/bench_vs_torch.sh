#!/bin/sh
# One DARTS search step at the paper's settings (batch 64, 8 cells, C=16,
# 32x32x3), oneshot next to PyTorch (../shared/bench/torch_darts_step.py) on
# the same machine in the same sitting. Extra arguments go to both.
#   scripts/bench_vs_torch.sh [--threads 2] [--steps 3]
set -e
cd "$(dirname "$0")/.."
scripts/deps.sh ref
make -s build/bench/bench_search_step
THREADS=${THREADS:-2}
STEPS=${STEPS:-3}
TORCH=../shared/bench/torch_darts_step.py
echo "== oneshot"
/usr/bin/time -f "wall %e s, max RSS %M KB" build/bench/bench_search_step --batch 64 --cells 8 --C 16 --size 32 \
    --threads "$THREADS" --steps "$STEPS" --warmup 1 "$@"
if [ -f "$TORCH" ]; then
    echo "== pytorch"
    /usr/bin/time -f "wall %e s, max RSS %M KB" /usr/bin/python3 "$TORCH" --threads "$THREADS" --steps "$STEPS" --warmup 1 "$@"
else
    echo "($TORCH not found: no PyTorch comparison)"
fi

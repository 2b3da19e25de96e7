#!/bin/sh
# The quick protocol measured in the README: a short search, then the found
# cell retrained from scratch, then its test accuracy.
#   scripts/quick_protocol.sh fmnist OUTDIR      # Fashion-MNIST (default data)
#   scripts/quick_protocol.sh cifar  OUTDIR      # ../shared/data/cifar10-jpg
# STRATEGY (default darts) the search strategy; SPACE (default cifar_cell)
# the space. With STRATEGY=spos the trained supernet is then searched by
# `oneshot evolve` (its defaults: 1,050 candidates, BN recalibrated on
# BN_BATCHES training batches, default 5) and the evolved architecture is
# retrained. THREADS (default 2) sets --threads; ONESHOT another binary
# (default build/oneshot, built first). Prints wall and CPU time of each part.
# It is a timing measurement meant for a quiet machine, so OpenMP threads spin
# while they wait (faster there); on a shared machine run it with
# OMP_WAIT_POLICY=passive.
set -e
OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-active}
export OMP_WAIT_POLICY
cd "$(dirname "$0")/.."
which="${1:-fmnist}"
out="${2:-runs/quick-$which}"
THREADS=${THREADS:-2}
STRATEGY=${STRATEGY:-darts}
SPACE=${SPACE:-cifar_cell}
BN_BATCHES=${BN_BATCHES:-5}
if [ -z "$ONESHOT" ]; then
    make -s build/oneshot
    ONESHOT=build/oneshot
fi
T="/usr/bin/time -f %C:_wall_%e_s_user_%U_s_sys_%S_s"
case "$which" in
fmnist)
    DATA=""
    SEARCH="--cells 5 --channels 8 --batch 32 --epochs 6 --subset 500 --val-batches 20"
    RETRAIN="--cells 8 --channels 16 --batch 96 --epochs 10 --lr 0.05 --crop-pad 0 --cutout 0"
    [ "$SPACE" = cifar_cell ] && RETRAIN="$RETRAIN --drop-path 0" # the only space with drop-path
    ;;
cifar)
    DATA="--data ../shared/data/cifar10-jpg"
    SEARCH="--cells 5 --channels 8 --batch 32 --epochs 4 --subset 300 --val-batches 20"
    RETRAIN="--cells 8 --channels 16 --batch 96 --epochs 5 --subset 1000"
    [ "$SPACE" = cifar_cell ] && RETRAIN="$RETRAIN --drop-path 0.1"
    ;;
*) echo "usage: $0 fmnist|cifar [OUTDIR]" >&2; exit 2 ;;
esac
rm -rf "$out"
mkdir -p "$out"
$T $ONESHOT train --space "$SPACE" --strategy "$STRATEGY" $DATA $SEARCH --threads "$THREADS" \
    --log-every 50 --out "$out/search"
arch="$out/search/arch.json"
if [ "$STRATEGY" = spos ]; then
    $T $ONESHOT evolve --run "$out/search" --bn-batches "$BN_BATCHES" --val-batches 20 \
        --threads "$THREADS" --log-every 50 --out "$out/evolve"
    arch="$out/evolve/arch.json"
fi
$T $ONESHOT retrain --arch "$arch" $DATA $RETRAIN --threads "$THREADS" \
    --log-every 100 --out "$out/retrain"
$T $ONESHOT eval --run "$out/retrain" $DATA --threads "$THREADS"

#!/bin/sh
# The quick protocol measured in the README: a short search, then the found
# cell retrained from scratch, then its test accuracy.
#   scripts/quick_protocol.sh fmnist OUTDIR      # Fashion-MNIST (default data)
#   scripts/quick_protocol.sh cifar  OUTDIR      # ../shared/data/cifar10-jpg
# STRATEGY (default darts) the search strategy; SPACE (default cifar_cell)
# the space. With STRATEGY=spos the trained supernet is then searched by
# `oneshot evolve` (its defaults: 1,050 candidates, BN recalibrated on
# BN_BATCHES training batches, default 5) and the evolved architecture is
# retrained. With STRATEGY=proxyless (SPACE=proxyless) a latency table is
# measured first on this machine (oneshot latency, one thread) and the search
# runs against it: --latency-loss add-linear, target LAT_TARGET ms (default
# 1.5; 0: no latency loss), lambda LAT_LAMBDA (default 1); 2 warm-up epochs, then an architecture
# step after every weight step at lr 0.01 (the paper's 40 warm-up epochs and
# lr 1e-3 leave a 6-epoch search with no architecture step). Every protocol
# ends by timing the retrained child end to end (oneshot latency --arch, batch
# 1, one thread). THREADS (default 2) sets --threads; ONESHOT another binary
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
    INPUT=1x28x28
    ;;
cifar)
    DATA="--data ../shared/data/cifar10-jpg"
    SEARCH="--cells 5 --channels 8 --batch 32 --epochs 4 --subset 300 --val-batches 20"
    RETRAIN="--cells 8 --channels 16 --batch 96 --epochs 5 --subset 1000"
    [ "$SPACE" = cifar_cell ] && RETRAIN="$RETRAIN --drop-path 0.1"
    INPUT=3x32x32
    ;;
*) echo "usage: $0 fmnist|cifar [OUTDIR]" >&2; exit 2 ;;
esac
# proxyless: --cells is the most blocks a stage has (1..4), --channels the
# stem width; search and retrain use the same widths, so the table fits both
SIZE=""
if [ "$SPACE" = proxyless ]; then
    SIZE="--cells 4 --channels 16"
    SEARCH=$(echo "$SEARCH" | sed 's/--cells 5 --channels 8//')
    RETRAIN=$(echo "$RETRAIN" | sed 's/--cells 8 --channels 16//')
    SEARCH="$SEARCH $SIZE"
    RETRAIN="$RETRAIN $SIZE"
fi
CHILD_SIZE=$(echo "$RETRAIN" | grep -o -- '--cells [0-9]* --channels [0-9]*')
rm -rf "$out"
mkdir -p "$out"
if [ "$STRATEGY" = proxyless ]; then
    $T $ONESHOT latency --space "$SPACE" --input $INPUT $SIZE --threads 1 --out "$out/latency.json"
    SEARCH="$SEARCH --warmup-epochs 2 --arch-every 1 --arch-lr 0.01"
    [ "${LAT_TARGET:-1.5}" != 0 ] && SEARCH="$SEARCH --latency-table $out/latency.json \
        --latency-target ${LAT_TARGET:-1.5} --latency-loss add-linear --latency-lambda ${LAT_LAMBDA:-1}"
fi
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
TABLE=""
[ "$STRATEGY" = proxyless ] && TABLE="--latency-table $out/latency.json"
$ONESHOT latency --arch "$out/retrain/arch.json" --input $INPUT $CHILD_SIZE --threads 1 --runs 200 $TABLE

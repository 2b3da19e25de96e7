#!/bin/sh
# scripts/nb201_table.sh STRATEGY BUDGET SEED [extra train flags...]
#
# One search on nb201 at NAS-Bench-201's protocol (--protocol nb201) on the
# CIFAR-10 JPEG folders, at a budget of EPOCHSxIMAGES (epochs x training
# images per class, split in halves for weights and architecture), and one
# row appended to the table (default docs/nb201_table.md): strategy,
# budget, seed, wall time, the architecture found and its NAS-Bench-201
# test accuracies (CIFAR-10, CIFAR-100, ImageNet16-120) and CIFAR-10 rank.
#
#   scripts/nb201_table.sh darts 4x32 1
#   scripts/nb201_table.sh darts 4x32 1 --unrolled          # second order
#   scripts/nb201_table.sh darts 4x32 1 --max-skip 2        # a collapse guard
#   THREADS=2 TABLE=runs/t.md scripts/nb201_table.sh gdas 10x100 3
#
# Environment: DATA (default ../shared/data/cifar10-jpg), BENCH (default
# ../shared/data/nb201/nats_tss_200ep.csv), THREADS (default 1), ONESHOT
# (default build/oneshot), TABLE, RUNS (where run directories go, default
# runs/nb201-table). The run directory is kept; its metrics.jsonl has the
# benchmark entry of every epoch's architecture.
#
# spos: after the supernet's training the script also chooses on it twice
# and appends a row for each, so one supernet gives three rows:
#   spos              the supernet's own derived path (its reference path)
#   spos+evolve       `oneshot evolve` (SPOS's evolution; flags: EVOLVE)
#   random            `oneshot evolve --random N`: RSPS, the best of N random
#                     paths on the same supernet (N: SAMPLES, default 100)
# Their wall time is the training's plus their own selection's; the
# selection's seed is the run's. EVOLVE defaults to 100 candidates (20 a
# generation, 4 generations after the first) on 4 validation batches each:
# `--population 20 --generations 4 --top 5 --mutations 10 --crossovers 10
# --val-batches 4 --bn-batches 0` (with the protocol's batch statistics a
# BN recalibration has nothing to do); random evaluates a candidate the same
# way (the same --val-batches and --bn-batches).
# darts: with PERTURB set (the flags of `oneshot perturb`, e.g.
# PERTURB="--val-batches 16"), the script also chooses on the trained
# supernet by perturbation (DARTS-PT) and appends a row:
#   darts+perturb     `oneshot perturb` (search/perturb.h)
# SELECT=0 skips the selections. TRAINED=RUN_DIR (spos, or darts with
# PERTURB) skips the training and chooses again on that finished run (its
# own STRATEGY, BUDGET and SEED given as usual), appending only the
# selection rows; WALL (the training's wall seconds, required) and LOAD
# (default -) fill their columns. For a selection rerun on a supernet
# trained earlier; its directories are RUN_DIR/<name>-again-DATE.
set -eu
if [ $# -lt 3 ]; then
    echo "usage: $0 STRATEGY EPOCHSxIMAGES SEED [extra train flags...]" >&2
    exit 2
fi
strategy=$1; budget=$2; seed=$3; shift 3
case $budget in
    *x*) epochs=${budget%x*}; per_class=${budget#*x} ;;
    *) echo "$0: budget '$budget': give EPOCHSxIMAGES, e.g. 4x32" >&2; exit 2 ;;
esac
DATA=${DATA:-../shared/data/cifar10-jpg}
BENCH=${BENCH:-../shared/data/nb201/nats_tss_200ep.csv}
THREADS=${THREADS:-1}
ONESHOT=${ONESHOT:-build/oneshot}
TABLE=${TABLE:-docs/nb201_table.md}
RUNS=${RUNS:-runs/nb201-table}
extra="$*"
tag=$(echo "$extra" | tr -c 'A-Za-z0-9.-' '_' | sed 's/__*/_/g; s/^_//; s/_$//')
mkdir -p "$RUNS" "$(dirname "$TABLE")"
if [ ! -s "$TABLE" ]; then
    printf '%s\n%s\n' \
        "| date | strategy | flags | budget (epochs x img/class) | seed | threads | load at start | wall s | architecture | CIFAR-10 | CIFAR-100 | ImageNet16-120 | rank /15625 | epochs run |" \
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|" > "$TABLE"
fi
if [ -n "${TRAINED:-}" ]; then
    case $strategy in
        spos) ;;
        darts) [ -n "${PERTURB:-}" ] || { echo "$0: TRAINED on a darts run chooses by perturbation: set PERTURB" >&2; exit 2; } ;;
        *) echo "$0: TRAINED chooses again on a spos or darts supernet, not on a $strategy run" >&2; exit 2 ;;
    esac
    [ -s "$TRAINED/checkpoint.safetensors" ] || { echo "$0: TRAINED=$TRAINED: no checkpoint.safetensors there" >&2; exit 2; }
    out=$TRAINED; load=${LOAD:--}
    wall=${WALL:?TRAINED needs WALL, the wall seconds of the training}
else
out=$RUNS/$strategy-$budget-s$seed${tag:+-$tag}-$(date +%Y%m%d-%H%M%S)
load=$(cut -d' ' -f1 /proc/loadavg)
start=$(date +%s)
# shellcheck disable=SC2086
nice "$ONESHOT" train --space nb201 --strategy "$strategy" --protocol nb201 --data "$DATA" \
    --benchmark "$BENCH" --epochs "$epochs" --subset "$per_class" --test-subset 1 --seed "$seed" \
    --threads "$THREADS" --plots 0 --log-every 1000000 --out "$out" $extra > "$out.log" 2>&1 || {
    echo "$0: the search failed; see $out.log" >&2; tail -5 "$out.log" >&2; exit 1; }
wall=$(( $(date +%s) - start ))
# the last epoch's benchmark entry (the exported architecture's; with
# --stop-skips the epoch the search stopped at)
row=$(tail -n 1 "$out/metrics.jsonl" | python3 -c '
import json, sys
m = json.loads(sys.stdin.read()); b = m["benchmark"]
print("`%s` | %.2f | %.2f | %.2f | %d | %d" % (b["arch_str"].replace("|", "\\|"), b["cifar10"], b["cifar100"], b["imagenet16_120"],
      b["rank_cifar10"], m["epoch"]))')
echo "| $(date +%Y-%m-%d) | $strategy | ${extra:--} | $budget | $seed | $THREADS | $load | $wall | $row |" >> "$TABLE"
tail -n 1 "$TABLE"
fi
[ "${SELECT:-1}" != 0 ] || exit 0
case $strategy in
    spos) ;;
    darts) [ -n "${PERTURB:-}" ] || exit 0 ;;
    *) exit 0 ;;
esac

# the selections on the supernet just trained (or TRAINED)
again=${TRAINED:+-again-$(date +%Y%m%d-%H%M%S)} # a new selection beside the earlier ones
epochs_run=$(tail -n 1 "$out/metrics.jsonl" | python3 -c 'import json, sys; print(json.loads(sys.stdin.read())["epoch"])')
choose_on() { # NAME COMMAND FLAGS...: choose on the supernet, append a row
    name=$1; cmd=$2; shift 2
    dir=$out/$name$again
    lg=; [ "$cmd" = evolve ] && lg="--log-every 1000000"
    t0=$(date +%s)
    # shellcheck disable=SC2068
    nice "$ONESHOT" "$cmd" --run "$out" --benchmark "$BENCH" --seed "$seed" --threads "$THREADS" --out "$dir" $lg $@ \
        > "$dir.log" 2>&1 || {
        echo "$0: oneshot $cmd ($name) failed; see $dir.log" >&2; tail -5 "$dir.log" >&2; exit 1; }
    sel=$(( $(date +%s) - t0 ))
    entry=$("$ONESHOT" query "$dir/arch.json" --benchmark "$BENCH" | python3 -c '
import sys
lines = sys.stdin.read().split("\n")
arch = lines[0].strip()
def pct(i): return float(lines[i].split()[1])
rank = int(lines[1].split("rank")[1].split()[0])
print("`%s` | %.2f | %.2f | %.2f | %d" % (arch.replace("|", "\\|"), pct(1), pct(2), pct(3), rank))')
    echo "| $(date +%Y-%m-%d) | $name | ${extra:+$extra }$* | $budget | $seed | $THREADS | $load | $((wall + sel)) ($wall + $sel) | $entry | $epochs_run |" >> "$TABLE"
    tail -n 1 "$TABLE"
}
if [ "$strategy" = darts ]; then
    # shellcheck disable=SC2086
    choose_on darts+perturb perturb $PERTURB
    exit 0
fi

# spos: evolution and random search
EVOLVE=${EVOLVE:---population 20 --generations 4 --top 5 --mutations 10 --crossovers 10 --val-batches 4 --bn-batches 0}
SAMPLES=${SAMPLES:-100}
# shellcheck disable=SC2086
choose_on spos+evolve evolve $EVOLVE
# random: the evolution's evaluation of a candidate (its --val-batches and --bn-batches)
vb=$(echo "$EVOLVE" | sed -n 's/.*\(--val-batches [0-9]*\).*/\1/p')
bb=$(echo "$EVOLVE" | sed -n 's/.*\(--bn-batches [0-9]*\).*/\1/p')
# shellcheck disable=SC2086
choose_on random evolve --random "$SAMPLES" $vb $bb

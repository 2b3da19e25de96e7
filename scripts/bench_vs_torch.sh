#!/bin/sh
# Every training path of oneshot next to PyTorch on the same machine, in the
# same sitting, one program at a time, and one table of them:
#
#   path           oneshot                                PyTorch yardstick
#   search-1st     bench_search_step (darts)              ../shared/bench/torch_darts_step.py
#   search-2nd     bench_search_step --unrolled 1         ../shared/bench/torch_darts_step.py --unrolled 1
#   retrain        bench_child_step (DARTS_V2, 20 x C36,  ../shared/bench/torch_darts_child_step.py
#                  batch 96, aux head, drop-path 0.2)
#   gdas           bench_search_step --strategy gdas      bench/torch_gdas_step.py
#   single-path    bench_search_step --strategy spos      bench/torch_spos_step.py
#   *-fmnist       the same at the small Fashion-MNIST configuration
#                  (5 cells, C 8, 28x28x1, batch 32; the retrain: 8 cells,
#                  C 16, batch 96, no auxiliary head)
#
# The search paths run at the DARTS paper's search settings (batch 64, 8
# cells, C 16, 32x32x3). Each program runs WARMUP steps, then STEPS timed
# ones, and prints seconds a step and its peak RSS; the table gives images/s
# and the two ratios (PyTorch time / oneshot time, oneshot RSS / PyTorch
# RSS). The single-path rows sample a different path every step (each side
# with its own random numbers): they average more steps.
#
#   scripts/bench_vs_torch.sh                          # every path, 2 threads
#   PATHS="retrain gdas" scripts/bench_vs_torch.sh     # some of them
#   TORCH_PYTHONS="/usr/bin/python3 venv/bin/python" scripts/bench_vs_torch.sh
#   PROFILE=1 scripts/bench_vs_torch.sh                # oneshot's per-kernel profile too
#
# Environment: THREADS (2), STEPS (3), WARMUP (2: the step memory reaches its
# steady size after the first step, its pages after the second), PATHS,
# TORCH_PYTHONS (interpreters with torch; default Debian's /usr/bin/python3),
# OUT (the table, default runs/bench_vs_torch.md; raw outputs beside it),
# PROFILE (1: oneshot's rows also print where the time and memory went).
set -eu
cd "$(dirname "$0")/.."
scripts/deps.sh ref
make -s build/bench/bench_search_step build/bench/bench_child_step
THREADS=${THREADS:-2}
STEPS=${STEPS:-3}
WARMUP=${WARMUP:-2}
PATHS=${PATHS:-"search-1st search-2nd retrain gdas single-path search-1st-fmnist gdas-fmnist single-path-fmnist retrain-fmnist"}
TORCH_PYTHONS=${TORCH_PYTHONS:-/usr/bin/python3}
OUT=${OUT:-runs/bench_vs_torch.md}
PROFILE=${PROFILE:-0}
SHARED=../shared/bench
RAW=${OUT%.md}.raw
mkdir -p "$(dirname "$OUT")"
: > "$RAW"

paper="--batch 64 --cells 8 --C 16 --size 32 --cin 3"
small="--batch 32 --cells 5 --C 8 --size 28 --cin 1"
child="--genotype darts-v2 --cells 20 --C 36 --batch 96 --size 32 --cin 3"
# no auxiliary head at 28x28: the yardstick's head (avg pool 5 s3, then a 2x2
# conv) needs an 8x8 input, 7x7 here (oneshot's head shrinks to fit)
child_small="--genotype darts-v2 --cells 8 --C 16 --batch 96 --size 28 --cin 1 --aux 0"

# path -> "settings|oneshot command|torch script and flags|steps"
spec() {
    case $1 in
    search-1st) echo "batch 64, 8 cells, C16, 32x32x3|build/bench/bench_search_step $paper|$SHARED/torch_darts_step.py $paper|$STEPS" ;;
    search-2nd) echo "the same, second order|build/bench/bench_search_step $paper --unrolled 1|$SHARED/torch_darts_step.py $paper --unrolled 1|$STEPS" ;;
    retrain) echo "DARTS_V2, 20 cells, C36, batch 96, aux, drop-path 0.2|build/bench/bench_child_step $child|$SHARED/torch_darts_child_step.py $child|$STEPS" ;;
    gdas) echo "batch 64, 8 cells, C16, 32x32x3|build/bench/bench_search_step $paper --strategy gdas|bench/torch_gdas_step.py $paper|$STEPS" ;;
    single-path) echo "SPOS, batch 64, 8 cells, C16, 32x32x3|build/bench/bench_search_step $paper --strategy spos|bench/torch_spos_step.py $paper|$((STEPS * 4))" ;;
    search-1st-fmnist) echo "batch 32, 5 cells, C8, 28x28x1|build/bench/bench_search_step $small|$SHARED/torch_darts_step.py $small|$((STEPS * 2))" ;;
    gdas-fmnist) echo "batch 32, 5 cells, C8, 28x28x1|build/bench/bench_search_step $small --strategy gdas|bench/torch_gdas_step.py $small|$((STEPS * 2))" ;;
    single-path-fmnist) echo "SPOS, batch 32, 5 cells, C8, 28x28x1|build/bench/bench_search_step $small --strategy spos|bench/torch_spos_step.py $small|$((STEPS * 8))" ;;
    retrain-fmnist) echo "DARTS_V2, 8 cells, C16, batch 96, 28x28x1, no aux head, drop-path 0.2|build/bench/bench_child_step $child_small|$SHARED/torch_darts_child_step.py $child_small|$((STEPS * 2))" ;;
    *) echo "$0: unknown path '$1'" >&2; exit 2 ;;
    esac
}

# "seconds peak_mb" from a program's output (the sec_per_*_step and peak_rss_mb keys)
parse() {
    awk '/^sec_per_/ { for (i = 1; i < NF; i++) { if ($i ~ /^sec_per_/) s = $(i + 1); if ($i == "peak_rss_mb") m = $(i + 1) } }
         END { if (s == "") exit 1; print s, m }'
}

header="| path | settings | oneshot s/step | img/s | peak RSS MB"
sep="|---|---|---|---|---"
for py in $TORCH_PYTHONS; do
    v=$($py -c 'import torch; print(torch.__version__)' 2>/dev/null) || { echo "$0: $py has no torch; skipped" >&2; continue; }
    header="$header | PyTorch $v s/step | img/s | peak RSS MB | speed | memory"
    sep="$sep|---|---|---|---|---"
done
{
    echo "$(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, THREADS=$THREADS, $STEPS timed steps after $WARMUP (more for single path), load at start $(cut -d' ' -f1-3 /proc/loadavg)"
    echo
    echo "$header |"
    echo "$sep |"
} > "$OUT"

for p in $PATHS; do
    s=$(spec "$p")
    settings=${s%%|*}; rest=${s#*|}
    ours=${rest%%|*}; rest=${rest#*|}
    theirs=${rest%%|*}; n=${rest#*|}
    batch=$(echo "$ours" | sed 's/.*--batch \([0-9]*\).*/\1/')
    echo "== $p: $ours" | tee -a "$RAW"
    # shellcheck disable=SC2086
    o=$($ours --threads "$THREADS" --steps "$n" --warmup "$WARMUP" --profile "$PROFILE" 2>&1) || { echo "$o"; exit 1; }
    echo "$o" >> "$RAW"
    set -- $(echo "$o" | parse)
    os_s=$1; os_m=$2
    line="| $p | $settings | $os_s | $(awk -v b="$batch" -v s="$os_s" 'BEGIN { printf "%.1f", b / s }') | $os_m"
    for py in $TORCH_PYTHONS; do
        $py -c 'import torch' 2>/dev/null || continue
        echo "== $p: $py $theirs" | tee -a "$RAW"
        # shellcheck disable=SC2086
        t=$($py $theirs --threads "$THREADS" --steps "$n" --warmup "$WARMUP" 2>&1) || { echo "$t"; exit 1; }
        echo "$t" >> "$RAW"
        set -- $(echo "$t" | parse)
        line="$line | $1 | $(awk -v b="$batch" -v s="$1" 'BEGIN { printf "%.1f", b / s }') | $2 | $(awk -v a="$1" -v b="$os_s" 'BEGIN { printf "%.2fx", a / b }') | $(awk -v a="$os_m" -v b="$2" 'BEGIN { printf "%.2f", a / b }')"
    done
    echo "$line |" | tee -a "$OUT"
done
echo
cat "$OUT"
echo "(raw outputs, with the profiles when PROFILE=1: $RAW)"

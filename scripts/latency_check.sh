#!/bin/sh
# scripts/latency_check.sh — the latency table's prediction against the
# measured end-to-end latency of random proxyless children (small variant).
#
#   scripts/latency_check.sh [INPUT] [N] [CLOCK]     (defaults 3x32x32 5 wall)
#
# CLOCK wall (what a user waits) or cpu (the process's CPU time: on a loaded
# machine a whole forward waits for a core many times, a short candidate
# rarely, so wall-clock predictions come out far too low there; the CPU
# time is charged only for the work). One thread.
#
# Measures a table (build/oneshot latency), draws N random architectures
# (NNI dicts, every depth and block uniform; seeded, so the same N each
# time), and for each prints the measured median and the table's
# prediction (build/oneshot latency --arch A --latency-table T). On a shared,
# loaded machine the figures move by several percent from run to run:
# run it on a quiet one for a verdict.
set -e
INPUT=${1:-3x32x32}
N=${2:-5}
CLOCK=${3:-wall}
OS=${OS:-build/oneshot}
DIR=$(mktemp -d)
trap 'rm -rf "$DIR"' EXIT
$OS latency --space proxyless --input "$INPUT" --threads 1 --clock "$CLOCK" --runs 50 --out "$DIR/table.json"
python3 - "$DIR" "$N" <<'PY'
import json, random, sys
d, n = sys.argv[1], int(sys.argv[2])
r = random.Random(11)
cands = ["k3e3", "k5e3", "k7e3", "k3e6", "k5e6", "k7e6"]
for i in range(n):
    a = {}
    for s in range(2, 7):
        depth = r.randint(1, 4)
        a["s%d_depth" % s] = depth
        for j in range(depth):
            a["s%d_i%d" % (s, j)] = r.choice(cands)
    a["s7_i0"] = r.choice(cands)
    json.dump(a, open("%s/arch%d.json" % (d, i), "w"))
PY
i=0
while [ $i -lt "$N" ]; do
    $OS latency --arch "$DIR/arch$i.json" --input "$INPUT" --threads 1 --clock "$CLOCK" --runs 50 \
        --latency-table "$DIR/table.json" --out "$DIR/measured$i.json" >/dev/null
    i=$((i + 1))
done
# median: the table's entries (medians) against the measured median; p10:
# the same from the 10th percentiles (the spread's lower ends), which a
# loaded machine disturbs less (short timed pieces are rarely preempted,
# a whole forward often is)
python3 - "$DIR" "$N" <<'PY'
import json, sys
d, n = sys.argv[1], int(sys.argv[2])
t = json.load(open(d + "/table.json"))
print("table: %s, input %s, batch %d, threads %d, clock %s, fixed %.3f ms" % (t["machine"]["cpu"], t["input"],
      t["batch"], t["threads"], t["clock"], t["fixed"]))
print("%-6s %9s %9s %6s   %9s %9s %6s" % ("arch", "pred", "measured", "ratio", "pred p10", "meas p10", "ratio"))
for i in range(n):
    a = json.load(open("%s/arch%d.json" % (d, i)))
    m = json.load(open("%s/measured%d.json" % (d, i)))
    p10 = t["fixed_spread"][0] + sum(t["spread"][k][v][0] for k, v in a.items() if not k.endswith("_depth"))
    print("arch%-2d %9.3f %9.3f %6.3f   %9.3f %9.3f %6.3f" % (i, m["predicted_ms"], m["median_ms"],
          m["median_ms"] / m["predicted_ms"], p10, m["spread_ms"][0], m["spread_ms"][0] / p10))
PY

#!/usr/bin/python3
"""scripts/nb201_ranking.py EVOLUTION.jsonl... [--benchmark CSV] -- how well
a trained nb201 supernet ranks architectures, scored after the search.

`oneshot evolve` (and `--random N`) writes one line per candidate it
evaluated to OUT/evolution.jsonl: its architecture and its accuracy on the
run's validation batches, measured with the supernet's shared weights. This
script looks every candidate up in the NAS-Bench-201 table (default
../shared/data/nb201/nats_tss_200ep.csv: the CIFAR-10 test accuracy after
200 epochs of standalone training) and prints, per file:

  - Kendall's tau between the supernet's validation accuracy and the
    table's accuracy (1: the supernet orders candidates as standalone
    training does; 0: no relation; below 0: the reverse order);
  - Kendall's tau of each with the candidate's parameter count (a supernet
    trained briefly favours small and parameter-free cells);
  - the table's accuracy of the five candidates the supernet rates best.

It reads the table only to report; nothing here feeds a search.

    scripts/nb201_ranking.py runs/x/random/evolution.jsonl runs/y/random/evolution.jsonl
"""
import csv
import json
import sys


def kendall(x, y):
    # tau-a over all pairs (ties count as neither concordant nor discordant)
    n, s = len(x), 0
    for i in range(n):
        for j in range(i + 1, n):
            d = (x[i] - x[j]) * (y[i] - y[j])
            s += (d > 0) - (d < 0)
    return s / (n * (n - 1) / 2) if n > 1 else float("nan")


def main(argv):
    bench_path = "../shared/data/nb201/nats_tss_200ep.csv"
    files = []
    args = list(argv)
    while args:
        a = args.pop(0)
        if a == "--benchmark" and args:
            bench_path = args.pop(0)
        elif a.startswith("-"):
            print(__doc__.strip(), file=sys.stderr)
            return 2
        else:
            files.append(a)
    if not files:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    try:
        with open(bench_path, newline="") as f:
            table = {r["ArchitectureString"]: float(r["CIFAR10TestAccuracy200Epochs"]) for r in csv.DictReader(f)}
    except (OSError, KeyError, ValueError) as e:
        print("%s: not the NAS-Bench-201 table (%s)" % (bench_path, e), file=sys.stderr)
        return 1
    for path in files:
        try:
            with open(path) as f:
                rows = [json.loads(line) for line in f if line.strip()]
            val = [r["val_acc"] for r in rows]
            acc = [table[r["arch_str"]] for r in rows]
            params = [r["params"] for r in rows]
        except (OSError, ValueError) as e:
            print("%s: %s" % (path, e), file=sys.stderr)
            return 1
        except KeyError as e:
            print("%s: a line without %s, or an architecture not in %s (is this an nb201 evolution.jsonl?)"
                  % (path, e, bench_path), file=sys.stderr)
            return 1
        best = sorted(range(len(rows)), key=lambda i: -val[i])[:5]
        print("%s: %d candidates, validation accuracy mean %.1f %% (%.1f-%.1f)"
              % (path, len(rows), 100 * sum(val) / len(val), 100 * min(val), 100 * max(val)))
        print("  Kendall tau: supernet vs table %.3f; supernet vs parameters %.3f; table vs parameters %.3f"
              % (kendall(val, acc), kendall(val, params), kendall(acc, params)))
        print("  the supernet's best five score %s %% in the table (their validation accuracy %s %%)"
              % (", ".join("%.2f" % acc[i] for i in best), ", ".join("%.1f" % (100 * val[i]) for i in best)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

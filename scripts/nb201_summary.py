#!/usr/bin/python3
"""scripts/nb201_summary.py [TABLE] -- the README's summary of the raw
NAS-Bench-201 table that scripts/nb201_table.sh appends to (default
docs/nb201_table.md): one row per strategy, flags and budget, the CIFAR-10
accuracy of each seed's architecture in seed order, their mean, and the
wall seconds per run (min-max).

    scripts/nb201_summary.py                      # docs/nb201_table.md
    scripts/nb201_summary.py runs/t.md --since 2026-11-30

--since DATE keeps rows of that date or later; --budget B keeps one budget.
A seed run more than once counts once (its last row). Rows whose flags
begin with "withdrawn" (a result found wrong later, kept in the table with
the reason) are left out.
"""
import sys


def cells(line):
    # a row's cells; "\|" inside the architecture is not a separator
    parts, cur, i = [], "", 1
    while i < len(line):
        if line[i] == "\\" and i + 1 < len(line) and line[i + 1] == "|":
            cur += "|"
            i += 2
            continue
        if line[i] == "|":
            parts.append(cur.strip())
            cur = ""
        else:
            cur += line[i]
        i += 1
    return parts


def main(argv):
    path, since, budget = "docs/nb201_table.md", "", ""
    args = list(argv)
    while args:
        a = args.pop(0)
        if a == "--since" and args:
            since = args.pop(0)
        elif a == "--budget" and args:
            budget = args.pop(0)
        elif a.startswith("-"):
            sys.exit("usage: nb201_summary.py [TABLE] [--since YYYY-MM-DD] [--budget EPOCHSxIMAGES]")
        else:
            path = a
    try:
        lines = open(path).read().splitlines()
    except OSError as e:
        sys.exit("nb201_summary.py: %s: %s" % (path, e.strerror))
    groups = {}
    for line in lines[2:]:
        c = cells(line)
        if len(c) < 14:
            continue
        date, strategy, flags, bud, seed, wall, acc = c[0], c[1], c[2], c[3], c[4], c[7], c[9]
        if date < since or (budget and bud != budget) or flags.startswith("withdrawn"):
            continue
        key = (strategy, flags, bud)
        groups.setdefault(key, {})[int(seed)] = (float(acc), wall.split()[0])
    print("| strategy | flags | budget (epochs x img/class) | CIFAR-10 by seed | mean | best | wall s per run |")
    print("|---|---|---|---|---|---|---|")
    for (strategy, flags, bud), runs in groups.items():
        seeds = sorted(runs)
        accs = [runs[s][0] for s in seeds]
        walls = [int(runs[s][1]) for s in seeds]
        by_seed = ", ".join("%d: %.2f" % (s, runs[s][0]) for s in seeds)
        print("| %s | %s | %s | %s | %.2f | %.2f | %d-%d |" % (strategy, flags, bud, by_seed, sum(accs) / len(accs),
                                                           max(accs), min(walls), max(walls)))


if __name__ == "__main__":
    main(sys.argv[1:])

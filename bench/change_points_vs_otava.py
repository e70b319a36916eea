#!/usr/bin/env python3
"""swarmgate's change points against Apache Otava's, on the same series.

Seeded synthetic histories of 40 runs, the p50 of one row, in kinds a CI
history shows: pure noise (3% or 10% run to run), one step down (an
improvement landing) or up, two steps, a step with one outlier run, and a
small step (5% on 3% noise). Each series is written as a swarmgate history
CSV and read by `swarmgate history FILE --last 40`, whose "Change points"
lines give the runs where a level moved; the same values (their logs, as
swarmgate judges ratios) go to Otava's `compute_change_points` at the same
false-change level, 0.001. The table counts, per kind, the series where
each tool found the planted changes (within one run) and the changes it
found that were not planted.

Usage: bench/change_points_vs_otava.py [--series 50]   (pip install apache-otava;
                                                      cargo build --release first)
"""

import argparse
import math
import os
import random
import re
import subprocess
import sys
import tempfile

from demo_api import SWARMGATE, require_release_build

RUNS = 40
HEADER = "time,commit,branch,label,method,name,requests,failures,p50_ms,p95_ms,p99_ms,requests_per_second,verdict,scenario"

# kind -> (planted change runs, level of run i, noise)
KINDS = {
    "noise 3%": ([], lambda i: 20.0, 0.03),
    "noise 10%": ([], lambda i: 20.0, 0.10),
    "step -40% at 25": ([25], lambda i: 20.0 if i < 25 else 12.0, 0.03),
    "step +25% at 15": ([15], lambda i: 20.0 if i < 15 else 25.0, 0.05),
    "two steps at 12, 28": ([12, 28], lambda i: 20.0 if i < 12 else (14.0 if i < 28 else 18.0), 0.03),
    "step at 25, outlier at 10": ([25], lambda i: 20.0 if i < 25 else 12.0, 0.03),
    "small step +5% at 20": ([20], lambda i: 20.0 if i < 20 else 21.0, 0.03),
}


def series(kind, rng):
    _, level, noise = KINDS[kind]
    values = [level(i) * math.exp(rng.gauss(0.0, noise)) for i in range(RUNS)]
    if "outlier" in kind:
        values[10] *= 3.0
    return values


def swarmgate_changes(values, work):
    path = os.path.join(work, "history.csv")
    with open(path, "w", newline="") as f:
        f.write(HEADER + "\r\n")
        for i, p50 in enumerate(values):
            f.write(f"2026-01-01T{i // 60:02d}:{i % 60:02d}:00Z,c{i:02d}aaaaaaa,main,,,Aggregated,700,0,{p50:.4f},{p50 * 1.2:.4f},{p50 * 1.5:.4f},100,unchanged,\r\n")
    out = subprocess.run([SWARMGATE, "history", path, "--last", str(RUNS)], capture_output=True, text=True, check=True).stdout
    # `p50 of Aggregated fell 40% at c25aaaa (run 26 of branch main)`: run N is index N-1.
    return sorted(int(m.group(1)) - 1 for m in re.finditer(r"^  p50 of Aggregated \w+ .*\(run (\d+)", out, re.M))


def otava_changes(values):
    from otava.analysis import compute_change_points

    found, _ = compute_change_points([math.log(v) for v in values], max_pvalue=0.001)
    return sorted(int(c.index) for c in found)


def score(planted, found):
    """(all planted found within one run, changes found that were not planted)."""
    hit = all(any(abs(f - p) <= 1 for f in found) for p in planted)
    extra = sum(1 for f in found if not any(abs(f - p) <= 1 for p in planted))
    return hit, extra


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--series", type=int, default=50, help="series per kind")
    args = parser.parse_args()
    require_release_build()
    try:
        import otava.analysis  # noqa: F401
    except ImportError:
        sys.exit("pip install apache-otava first")
    rng = random.Random(28)
    print(f"{args.series} series of {RUNS} runs per kind, both tools at a false-change level of 0.001\n")
    print("| series | planted found, swarmgate | planted found, Otava | unplanted, swarmgate | unplanted, Otava | same runs found |")
    print("|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as work:
        for kind, (planted, _, _) in KINDS.items():
            hits = {"swarmgate": 0, "otava": 0}
            extras = {"swarmgate": 0, "otava": 0}
            same = 0
            for _ in range(args.series):
                values = series(kind, rng)
                ours, theirs = swarmgate_changes(values, work), otava_changes(values)
                for tool, found in (("swarmgate", ours), ("otava", theirs)):
                    hit, extra = score(planted, found)
                    hits[tool] += hit
                    extras[tool] += extra
                same += ours == theirs
            found = lambda tool: f"{hits[tool]} of {args.series}" if planted else "-"
            print(f"| {kind} | {found('swarmgate')} | {found('otava')} | {extras['swarmgate']} | {extras['otava']} | {same} of {args.series} |", flush=True)


if __name__ == "__main__":
    main()

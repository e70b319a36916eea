#!/usr/bin/env python3
"""How often the gate cries wolf, and how often it catches a real slowdown.

Against the embedded demo API with a few milliseconds of latency and jitter,
this makes many short runs: baselines, runs of the same server (A/A pairs)
and runs of a server whose latency and jitter were raised by a given share.
Each run is compared with its own baseline by `swarmgate compare` on the
results directories (exact histograms) with the default rules. It prints the
false-alarm rate of A/A pairs and the detection rate of each slowdown, per
run length.

Conditions (--condition): `quiet`; `busy-current`, one CPU-bound process on
the machine during the current runs only (the baseline is recorded quiet);
`both-busy`, that process throughout; `interleaved-busy`, that process
throughout and no stored baseline: each pair is one `run --against` of the
server against itself (A/A) and one of the slowed server against it, each
side getting the run length. `--baseline-format csv` compares with the
baseline's stats.csv instead of its directory.

Workloads (--workload): `independent`, bench/gate-study.toml against a
server that answers every request at once after its delay; `saturated`,
bench/gate-study-saturated.toml against a server with 2 workers, so requests
queue and follow each other, and loops whose 404s come in blocks.

Every side of a pair is its own server process: an A/A pair compares the
server with a second, identical one (started the same way), never a server
with itself, so that what differs between two deployments of the same code
is in the study.

`--csv FILE` appends one line per comparison (condition, workload, baseline
format, run length, pair, change, the exit code and the verdict's counts),
so that docs/gate-accuracy.md can be generated from kept output
(bench/gate_accuracy_table.py) rather than typed.

Usage: bench/gate_accuracy.py [--pairs 20] [--durations 3] [--changes 25]
       [--latency-ms 4] [--jitter-ms 2] [--condition quiet]
       [--baseline-format dir] [--workload independent] [--csv FILE]
       [--until-decided] [--max-duration 2m] [--latency-tolerance 10%]
                                               (cargo build --release first)
"""

import argparse
import csv
import json
import os
import re
import subprocess
import sys
import tempfile
import time

from demo_api import ROOT, SWARMGATE, require_release_build, serve

SCENARIOS = {
    "independent": os.path.join(ROOT, "bench", "gate-study.toml"),
    "saturated": os.path.join(ROOT, "bench", "gate-study-saturated.toml"),
}
SCENARIO = SCENARIOS["independent"]


def run(port, seconds, out):
    subprocess.run(
        [SWARMGATE, "run", SCENARIO, "--host", f"http://127.0.0.1:{port}", "--duration", f"{seconds}s", "-q", "--out", out],
        check=True,
        stdout=subprocess.DEVNULL,
    )


def counts_of(summary_path):
    """The verdict's counts from a summary.json, and how many rounds ran."""
    with open(summary_path) as f:
        summary = json.load(f)
    verdict = summary.get("verdict") or {}
    counts = verdict.get("counts", {})
    # `until decided: 3 look(s) of at most 9, 7 rounds a side, …`
    said = re.search(r"(\d+) rounds a side", verdict.get("noise_model", ""))
    rounds = int(said.group(1)) if said else None
    return counts, rounds


GATE_FLAGS = []


def run_against(candidate_port, baseline_port, seconds, out, until_decided=None):
    """`run --against`: (exit code, counts, rounds, wall seconds)."""
    os.makedirs(out, exist_ok=True)
    summary = os.path.join(out, "summary.json")
    extra = ["--until-decided", "--max-duration", until_decided] if until_decided else []
    started = time.monotonic()
    code = subprocess.run(
        [SWARMGATE, "run", SCENARIO, "--host", f"http://127.0.0.1:{candidate_port}", "--against", f"http://127.0.0.1:{baseline_port}",
         "--duration", f"{seconds}s", "-q", "--out", out, *extra, *GATE_FLAGS],
        stdout=subprocess.DEVNULL,
    ).returncode
    wall = time.monotonic() - started
    if code not in (0, 1):
        sys.exit(f"run --against exited {code}")
    counts, rounds = counts_of(summary)
    return code, counts, rounds, wall


class Hog:
    """One CPU-bound process beside the runs, while `on`."""

    def __init__(self):
        self.process = None

    def on(self, wanted):
        if wanted and self.process is None:
            self.process = subprocess.Popen(["yes"], stdout=subprocess.DEVNULL)
        elif not wanted and self.process is not None:
            self.process.terminate()
            self.process.wait()
            self.process = None


def compared(current, baseline):
    """`compare` with the default rules: (exit code, counts)."""
    report = os.path.join(current, "compare.html")
    summary = os.path.join(current, "compare.json")
    # The saturated workload's 404s are its own (its scenario says so for `run`).
    limit = ["--max-fail-rate", "30%"] if SCENARIO == SCENARIOS["saturated"] else []
    code = subprocess.run([SWARMGATE, "compare", current, "--baseline", baseline, "--report", report, "--summary-json", summary, *limit, *GATE_FLAGS],
                          stdout=subprocess.DEVNULL).returncode
    if code not in (0, 1):
        sys.exit(f"compare exited {code}")
    counts, _ = counts_of(summary)
    return code, counts, None, None


COLUMNS = ["condition", "workload", "baseline", "seconds", "pair", "latency_ms", "latency_tolerance", "change_percent", "exit_code",
           "regressed", "inconclusive", "unchanged", "improved", "rounds", "wall_seconds"]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, default=20)
    parser.add_argument("--durations", default="3", help="run lengths in seconds, comma-separated")
    parser.add_argument("--changes", default="25", help="latency increases in percent, comma-separated")
    parser.add_argument("--latency-ms", type=float, default=4.0)
    parser.add_argument("--jitter-ms", type=float, default=2.0)
    parser.add_argument("--condition", choices=["quiet", "busy-current", "both-busy", "interleaved-busy"], default="quiet")
    parser.add_argument("--baseline-format", choices=["dir", "csv"], default="dir")
    parser.add_argument("--workload", choices=sorted(SCENARIOS), default="independent")
    parser.add_argument("--csv", help="append one line per comparison to this file")
    parser.add_argument("--latency-tolerance", default="10%", help="the gate's latency tolerance, as --latency-tolerance")
    parser.add_argument("--until-decided", action="store_true", help="interleaved only: add rounds until decided")
    parser.add_argument("--max-duration", default="2m", help="the budget of --until-decided")
    args = parser.parse_args()
    global SCENARIO
    SCENARIO = SCENARIOS[args.workload]
    GATE_FLAGS[:] = ["--latency-tolerance", args.latency_tolerance]
    hog = Hog()
    interleaved = args.condition == "interleaved-busy"
    busy_baseline = args.condition in ("both-busy", "interleaved-busy")
    busy_current = args.condition != "quiet"
    require_release_build()
    durations = [float(d) for d in args.durations.split(",")]
    changes = [float(c) for c in args.changes.split(",")]

    def faults(latency_ms, jitter_ms):
        workers = ("--workers", "2") if args.workload == "saturated" else ()
        return ("--inject-latency", f"{latency_ms}ms", "--inject-jitter", f"{jitter_ms}ms", *workers)

    servers = {0.0: serve(*faults(args.latency_ms, args.jitter_ms))}
    # The same server again, in a process of its own: the A/A side.
    twin = serve(*faults(args.latency_ms, args.jitter_ms))
    for change in changes:
        factor = 1 + change / 100
        servers[change] = serve(*faults(args.latency_ms * factor, args.jitter_ms * factor))
    print(f"demo API: {args.latency_ms} ms + up to {args.jitter_ms} ms jitter; slowed copies: +{', +'.join(f'{c:g}' for c in changes)}%")
    how = "run --against, rounds in turns" if interleaved else f"each run compared with its own baseline run ({args.baseline_format})"
    print(f"{args.pairs} pairs per cell; {how}; condition {args.condition}; workload {args.workload}\n")
    print(f"{'run length':>10}  {'A/A false alarms':>17}  " + "  ".join(f"{'+' + format(c, 'g') + '% caught':>12}" for c in changes))
    out_csv = None
    if args.csv:
        new = not os.path.exists(args.csv) or os.path.getsize(args.csv) == 0
        out_csv = open(args.csv, "a", newline="")
        writer = csv.writer(out_csv, lineterminator="\n")
        if new:
            writer.writerow(COLUMNS)
    condition = args.condition + ("-until-decided" if args.until_decided else "")
    baseline_kind = "none" if interleaved else args.baseline_format

    def keep(seconds, pair, change, result):
        code, counts, rounds, wall = result
        if out_csv:
            writer.writerow([condition, args.workload, baseline_kind, f"{seconds:g}", pair, f"{args.latency_ms:g}", args.latency_tolerance, f"{change:g}", code,
                             counts.get("regressed", 0), counts.get("inconclusive", 0), counts.get("unchanged", 0),
                             counts.get("improved", 0), "" if rounds is None else rounds,
                             "" if wall is None else f"{wall:.1f}"])
            out_csv.flush()
        return code == 1

    budget = args.max_duration if args.until_decided else None
    try:
        with tempfile.TemporaryDirectory() as work:
            for seconds in durations:
                false_alarms = 0
                caught = {c: 0 for c in changes}
                for i in range(args.pairs):
                    if interleaved:
                        hog.on(True)
                        port = servers[0.0][1]
                        aa = run_against(twin[1], port, seconds, os.path.join(work, f"{seconds}-{i}-aa"), budget)
                        false_alarms += keep(seconds, i, 0.0, aa)
                        for change in changes:
                            out = os.path.join(work, f"{seconds}-{i}-ab-{change}")
                            ab = run_against(servers[change][1], port, seconds, out, budget)
                            caught[change] += keep(seconds, i, change, ab)
                        continue
                    base = os.path.join(work, f"{seconds}-{i}-base")
                    again = os.path.join(work, f"{seconds}-{i}-again")
                    hog.on(busy_baseline)
                    run(servers[0.0][1], seconds, base)
                    hog.on(busy_current)
                    run(twin[1], seconds, again)
                    against = base if args.baseline_format == "dir" else os.path.join(base, "stats.csv")
                    false_alarms += keep(seconds, i, 0.0, compared(again, against))
                    for change in changes:
                        slow = os.path.join(work, f"{seconds}-{i}-slow-{change}")
                        run(servers[change][1], seconds, slow)
                        caught[change] += keep(seconds, i, change, compared(slow, against))
                cells = "  ".join(f"{caught[c]:>6} of {args.pairs:<3}" for c in changes)
                print(f"{seconds:>9g}s  {false_alarms:>9} of {args.pairs:<5}  {cells}", flush=True)
    finally:
        hog.on(False)
        if out_csv:
            out_csv.close()
        for server, _ in [*servers.values(), twin]:
            server.terminate()
            server.wait()


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Scale and accuracy of the engine, against the embedded demo API.

1. Scale: many users (default 10,000) with between(1, 2) waits: the achieved
   request rate against what the waits imply (users / 1.5 s), and swarmgate's
   resident memory every 5 s of the run (flat is the goal).
2. Accuracy: 1,000 users against a demo API that adds 20 ms: swarmgate's exact
   p50 (from its histograms, via summary.json) against the truth, the p50 of
   the time the server itself held each request (it prints that on Ctrl-C).
3. Stall: the open model at 200 iterations/s while the server stalls for a
   second: the stall must show in the latency percentiles.

Both sides run on this machine's loopback. wrk_compare.py runs all of this
after its throughput rounds; this script runs it alone.
Usage: bench/scale_accuracy.py [--users 10000] [--seconds 60]   (cargo build --release first)
"""

import argparse
import json
import os
import re
import subprocess
import tempfile
import time

from demo_api import SWARMGATE, require_release_build, serve, stop


CLOSED = """
host = "http://127.0.0.1:{port}"
[load]
users = {users}
spawn_rate = {spawn_rate}
duration = "{seconds}s"
[[user]]
wait = "{wait}"
  [[user.task]]
    [[user.task.step]]
    get = "/health"
"""

OPEN = """
host = "http://127.0.0.1:{port}"
[load]
users = 400
duration = "{seconds}s"
arrival_rate = 200
[[user]]
  [[user.task]]
    [[user.task.step]]
    get = "/health"
"""


def run(work, name, scenario, sample_memory=False):
    """Runs a scenario; returns its results directory, the resident memory
    (MiB) sampled every 5 s, and the peak (VmHWM, MiB) last seen."""
    path = os.path.join(work, f"{name}.toml")
    with open(path, "w") as f:
        f.write(scenario)
    out = os.path.join(work, name)
    process = subprocess.Popen([SWARMGATE, "run", path, "-q", "--out", out], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    memory, peak = [], 0
    while process.poll() is None:
        time.sleep(5)
        try:
            with open(f"/proc/{process.pid}/status") as f:
                status = f.read()
            rss = re.search(r"VmRSS:\s+(\d+) kB", status)
            hwm = re.search(r"VmHWM:\s+(\d+) kB", status)
            if rss and sample_memory:
                memory.append(int(rss.group(1)) // 1024)
            if hwm:
                peak = max(peak, int(hwm.group(1)) // 1024)
        except OSError:
            pass
    return out, memory, peak


def percentiles(out):
    with open(os.path.join(out, "summary.json")) as f:
        return dict((round(q, 4), ms) for q, ms in json.load(f)["distributions"]["current"])


def scale(work, users, seconds):
    server, port = serve()
    try:
        scenario = CLOSED.format(port=port, users=users, spawn_rate=max(users // 5, 1), seconds=seconds, wait="between(1, 2)")
        out, memory, peak = run(work, "scale", scenario, sample_memory=True)
    finally:
        stop(server)
    with open(os.path.join(out, "stats_history.csv")) as f:
        rows = [line.split(",") for line in f.read().strip().splitlines()[1:]]
    steady = [float(r[4]) for r in rows if r[1] == str(users)][2:]
    implied = users / 1.5
    achieved = sum(steady) / max(len(steady), 1)
    print(f"scale: {users} users, between(1, 2), {seconds}s")
    print(f"  request rate at full strength: {achieved:.0f}/s; the waits imply {implied:.0f}/s ({achieved / implied - 1:+.1%})")
    print(f"  resident memory every 5 s (MiB): {' '.join(map(str, memory))}")
    if memory:
        settled = memory[len(memory) // 4:]
        print(f"  peak (VmHWM) {peak} MiB; after the first quarter of the run {min(settled)}..{max(settled)} MiB")


def accuracy(work, users=1000, seconds=15):
    server, port = serve("--inject-latency", "20ms")
    try:
        scenario = CLOSED.format(port=port, users=users, spawn_rate=users, seconds=seconds, wait="between(0.5, 1.5)")
        out, _, _ = run(work, "accuracy", scenario)
    finally:
        truth = stop(server)
    curve = percentiles(out)
    print(f"accuracy: {users} users, the server adds 20 ms")
    print(f"  swarmgate p50 {curve[0.5]:.3f} ms (p90 {curve[0.9]:.2f}, p99 {curve[0.99]:.2f}); "
          f"the server held requests p50 {truth:.3f} ms; difference {curve[0.5] - truth:+.3f} ms")


def stall(work, seconds=4):
    server, port = serve("--inject-stall", "1s", "--inject-stall-after", "1s")
    try:
        out, _, _ = run(work, "stall", OPEN.format(port=port, seconds=seconds))
    finally:
        stop(server)
    curve = percentiles(out)
    with open(os.path.join(out, "stats.csv")) as f:
        aggregated = f.read().strip().splitlines()[-1].split(",")
    requests, longest = int(aggregated[2]), float(aggregated[7])
    print(f"stall: open model, 200 iterations/s for {seconds}s, the server stalls from 1 s to 2 s")
    print(f"  {requests} requests; p50 {curve[0.5]:.1f} ms, p75 {curve[0.75]:.1f} ms, p90 {curve[0.9]:.1f} ms, "
          f"p99 {curve[0.99]:.1f} ms, max {longest:.0f} ms")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=10000)
    parser.add_argument("--seconds", type=int, default=60)
    args = parser.parse_args()
    require_release_build()
    with tempfile.TemporaryDirectory() as work:
        scale(work, args.users, args.seconds)
        accuracy(work)
        stall(work)


if __name__ == "__main__":
    main()

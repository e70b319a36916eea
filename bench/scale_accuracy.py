#!/usr/bin/env python3
"""Scale and accuracy of the engine, against the embedded demo API.

1. Scale: many users (default 10,000) with between(1, 2) waits: the achieved
   request rate against what the waits imply (users / 1.5 s), and swarmgate's
   resident memory every 5 s of the run (flat is the goal).
2. Accuracy: 1,000 users against a demo API that adds 20 ms: the exact p50
   (from the run's histograms, via summary.json) against the 20 ms added.

Both run on this machine's loopback; load generator and server share it.
Usage: bench/scale_accuracy.py [--users 10000] [--seconds 60]   (cargo build --release first)
"""

import argparse
import json
import os
import re
import subprocess
import tempfile
import time

from demo_api import SWARMGATE, require_release_build, serve


SCENARIO = """
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




def run(work, name, port, users, seconds, wait, sample_memory):
    path = os.path.join(work, f"{name}.toml")
    with open(path, "w") as f:
        f.write(SCENARIO.format(port=port, users=users, spawn_rate=max(users // 5, 1), seconds=seconds, wait=wait))
    out = os.path.join(work, name)
    process = subprocess.Popen([SWARMGATE, "run", path, "-q", "--out", out], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    memory = []
    while process.poll() is None:
        time.sleep(5)
        try:
            with open(f"/proc/{process.pid}/status") as f:
                rss = re.search(r"VmRSS:\s+(\d+) kB", f.read())
            if rss and sample_memory:
                memory.append(int(rss.group(1)) // 1024)
        except OSError:
            pass
    return out, memory


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=10000)
    parser.add_argument("--seconds", type=int, default=60)
    args = parser.parse_args()
    require_release_build()
    with tempfile.TemporaryDirectory() as work:
        server, port = serve()
        try:
            out, memory = run(work, "scale", port, args.users, args.seconds, "between(1, 2)", True)
        finally:
            server.terminate()
            server.wait()
        with open(os.path.join(out, "stats_history.csv")) as f:
            rows = [line.split(",") for line in f.read().strip().splitlines()[1:]]
        steady = [float(r[4]) for r in rows if r[1] == str(args.users)][2:]
        implied = args.users / 1.5
        achieved = sum(steady) / max(len(steady), 1)
        print(f"scale: {args.users} users, between(1, 2), {args.seconds}s")
        print(f"  request rate at full strength: {achieved:.0f}/s; the waits imply {implied:.0f}/s ({achieved / implied - 1:+.1%})")
        print(f"  resident memory every 5 s (MiB): {' '.join(map(str, memory))}; peak {max(memory, default=0)}")

        server, port = serve("--inject-latency", "20ms")
        try:
            out, _ = run(work, "accuracy", port, 1000, 15, "between(0.5, 1.5)", False)
        finally:
            server.terminate()
            server.wait()
        with open(os.path.join(out, "summary.json")) as f:
            curve = dict((round(q, 4), ms) for q, ms in json.load(f)["distributions"]["current"])
        print("accuracy: 1000 users, server adds 20 ms")
        print(f"  exact p50 {curve[0.5]:.2f} ms, p90 {curve[0.9]:.2f} ms, p99 {curve[0.99]:.2f} ms (the server's own timer adds up to 1 ms)")


if __name__ == "__main__":
    main()

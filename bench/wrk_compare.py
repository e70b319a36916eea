#!/usr/bin/env python3
"""swarmgate against wrk, side by side, on the same local nginx.

Each load tool is pinned to core 0 and nginx to core 1, so each tool has one
core. Both run 50 connections/users with no wait for the same time. The figure
that matters is requests per CPU-second of the load tool itself (user + system
time from getrusage), since absolute throughput on a shared machine is noise.
swarmgate records its full per-endpoint histograms and timeline as always.

Then swarmgate runs for a short and a long duration to show that its peak
memory does not grow with run length, and scale_accuracy.py's parts follow:
10,000 users with between(1, 2) waits (rate and memory), p50 at 1,000 users
against a server that adds 20 ms (against the server's own measure), and a
one-second stall under the open model.

Needs: nginx and wrk (apt-get install -y nginx wrk), a release build
(cargo build --release). Usage: bench/wrk_compare.py [--seconds 10] [--long 60]
[--users 10000] [--scale-seconds 60] [--only-wrk]
"""

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

import scale_accuracy
from demo_api import SWARMGATE, free_port, require_release_build, wait_for

USERS = 50

NGINX_CONF = """
worker_processes 1;
daemon off;
pid {dir}/nginx.pid;
error_log {dir}/error.log;
events {{ worker_connections 8192; }}
http {{
    access_log off;
    keepalive_requests 100000000;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    server {{
        listen 127.0.0.1:{port};
        default_type application/json;
        location / {{ return 200 '{{"id": 1, "name": "Product 1", "price": "8.37"}}'; }}
    }}
}}
"""

SCENARIO = """
host = "http://127.0.0.1:{port}"
[load]
users = {users}
spawn_rate = 100000
duration = "{seconds}s"
[[user]]
  [[user.task]]
    [[user.task.step]]
    get = "/api/v1/products/1/"
    name = "/api/v1/products/[id]/"
"""



def run_isolated(command, workdir):
    """Runs a command; returns (stdout, CPU seconds, peak RSS in MiB) of that
    process alone. wait4 reports exactly that child's CPU time. Its ru_maxrss
    would include this interpreter's memory (Linux carries the high-water mark
    across exec), so peak RSS is read from /proc while the process runs."""
    out_path = os.path.join(workdir, "stdout.txt")
    err_path = os.path.join(workdir, "stderr.txt")
    actions = [
        (os.POSIX_SPAWN_OPEN, 1, out_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644),
        (os.POSIX_SPAWN_OPEN, 2, err_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644),
    ]
    pid = os.posix_spawnp(command[0], command, os.environ, file_actions=actions)
    peak_kib = 0
    while True:
        finished, status, usage = os.wait4(pid, os.WNOHANG)
        if finished:
            break
        try:
            with open(f"/proc/{pid}/status") as f:
                hwm = re.search(r"VmHWM:\s+(\d+) kB", f.read())
            if hwm:
                peak_kib = max(peak_kib, int(hwm.group(1)))
        except OSError:
            pass
        time.sleep(0.2)
    with open(out_path) as f:
        stdout = f.read()
    if os.waitstatus_to_exitcode(status) != 0:
        with open(err_path) as f:
            sys.exit(f"{command} failed:\n{f.read()}")
    return stdout, usage.ru_utime + usage.ru_stime, peak_kib / 1024


def wrk(port, seconds, workdir):
    out, cpu, rss = run_isolated(
        ["taskset", "-c", "0", "wrk", "-t1", f"-c{USERS}", f"-d{seconds}s", f"http://127.0.0.1:{port}/api/v1/products/1/"],
        workdir,
    )
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    return requests, cpu, rss


def swarmgate(port, seconds, workdir):
    scenario = os.path.join(workdir, f"bench-{seconds}.toml")
    with open(scenario, "w") as f:
        f.write(SCENARIO.format(port=port, users=USERS, seconds=seconds))
    out_dir = os.path.join(workdir, f"results-{seconds}")
    _, cpu, rss = run_isolated(["taskset", "-c", "0", SWARMGATE, "run", scenario, "--quiet", "--out", out_dir], workdir)
    with open(os.path.join(out_dir, "stats.csv")) as f:
        aggregated = f.read().strip().splitlines()[-1].split(",")
    return int(aggregated[2]), cpu, rss


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds; the median ratio is reported")
    parser.add_argument("--long", type=int, default=60, help="the long run for the memory check (0 skips it)")
    parser.add_argument("--users", type=int, default=10000, help="users of the scale run")
    parser.add_argument("--scale-seconds", type=int, default=60, help="length of the scale run (600 for the 10-minute check)")
    parser.add_argument("--only-wrk", action="store_true", help="skip scale, accuracy and stall")
    args = parser.parse_args()
    for tool in ("nginx", "wrk", "taskset"):
        if not shutil.which(tool) and not os.path.exists(f"/usr/sbin/{tool}"):
            sys.exit(f"{tool} is missing: apt-get install -y nginx wrk util-linux")
    require_release_build()

    with tempfile.TemporaryDirectory() as workdir:
        port = free_port()
        conf = os.path.join(workdir, "nginx.conf")
        with open(conf, "w") as f:
            f.write(NGINX_CONF.format(dir=workdir, port=port))
        nginx_bin = shutil.which("nginx") or "/usr/sbin/nginx"
        nginx = subprocess.Popen(["taskset", "-c", "1", nginx_bin, "-c", conf, "-p", workdir], stderr=subprocess.DEVNULL)
        try:
            wait_for(port)
            print(f"target: nginx on core 1; load tools on core 0; {USERS} connections, no wait, {args.seconds}s each")
            print(f"{'round':<6} {'tool':<10} {'requests':>10} {'cpu s':>8} {'req/cpu-s':>11} {'peak MiB':>9}")
            ratios = []
            for round_number in range(1, args.rounds + 1):
                wrk_requests, wrk_cpu, wrk_rss = wrk(port, args.seconds, workdir)
                sg_requests, sg_cpu, sg_rss = swarmgate(port, args.seconds, workdir)
                wrk_rate = wrk_requests / wrk_cpu
                sg_rate = sg_requests / sg_cpu
                ratios.append(sg_rate / wrk_rate)
                print(f"{round_number:<6} {'wrk':<10} {wrk_requests:>10} {wrk_cpu:>8.2f} {wrk_rate:>11.0f} {wrk_rss:>9.1f}")
                print(f"{round_number:<6} {'swarmgate':<10} {sg_requests:>10} {sg_cpu:>8.2f} {sg_rate:>11.0f} {sg_rss:>9.1f}")
            ratios.sort()
            listed = ", ".join(f"{r:.2f}" for r in ratios)
            print(f"ratio swarmgate/wrk, requests per CPU-second: median {ratios[len(ratios) // 2]:.2f} (rounds: {listed})")
            if args.long:
                _, _, long_rss = swarmgate(port, args.long, workdir)
                print(f"swarmgate peak memory: {sg_rss:.1f} MiB after {args.seconds}s, {long_rss:.1f} MiB after {args.long}s")
        finally:
            nginx.terminate()
            nginx.wait()
        if not args.only_wrk:
            scale_accuracy.scale(workdir, args.users, args.scale_seconds)
            scale_accuracy.accuracy(workdir)
            scale_accuracy.stall(workdir)


if __name__ == "__main__":
    main()

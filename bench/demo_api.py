"""What the bench scripts share: the release binary, and the embedded demo
API started on a free loopback port."""

import os
import re
import signal
import socket
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SWARMGATE = os.path.join(ROOT, "target", "release", "swarmgate")


def require_release_build():
    if not os.path.exists(SWARMGATE):
        sys.exit("build first: cargo build --release")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(port):
    for _ in range(50):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
            return
        except OSError:
            time.sleep(0.1)
    sys.exit(f"nothing answers on 127.0.0.1:{port}")


def serve(*flags):
    """Starts `swarmgate serve-demo` with fault flags; returns (process, port)."""
    port = free_port()
    server = subprocess.Popen(
        [SWARMGATE, "serve-demo", "--port", str(port), *flags], stdout=subprocess.PIPE, text=True
    )
    wait_for(port)
    return server, port


def stop(server):
    """Stops a demo API as Ctrl-C does; returns the p50 it measured of the
    time each request was held in the server, in ms (None if not printed)."""
    server.send_signal(signal.SIGINT)
    out, _ = server.communicate(timeout=30)
    held = re.search(r"time in server: p50 ([0-9.]+) ms", out)
    return float(held.group(1)) if held else None

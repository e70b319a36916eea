"""What the bench scripts share: the release binary, and the embedded demo
API started on a free loopback port."""

import os
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
    server = subprocess.Popen([SWARMGATE, "serve-demo", "--port", str(port), *flags], stdout=subprocess.DEVNULL)
    wait_for(port)
    return server, port

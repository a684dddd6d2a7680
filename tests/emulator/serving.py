"""How rollgate's test servers (server.py, faults.py) run: serve in a thread, print one
ready line, and stop on SIGTERM, SIGINT or (optionally) stdin EOF, i.e. when the parent
process that reads the ready line goes away."""

from __future__ import annotations

import os
import signal
import sys
import threading
from typing import Any


def _stop_at_stdin_eof(stop: threading.Event) -> None:
    """Read and discard stdin until EOF, then ask the server to stop."""
    fd = sys.stdin.fileno()
    while os.read(fd, 65536):
        pass
    stop.set()


def serve_until_stopped(server: Any, ready_line: str, exit_on_stdin_eof: bool, poll_interval: float = 0.5) -> int:
    """Serves `server` (a socketserver-style server, already bound) until asked to stop."""
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    if exit_on_stdin_eof:
        threading.Thread(target=_stop_at_stdin_eof, args=(stop,), daemon=True).start()
    serving = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": poll_interval}, name="serve", daemon=True
    )
    serving.start()

    print(ready_line, flush=True)
    # Anything printed later must not land on the pipe the parent read the ready line from
    # (it may no longer be drained).
    sys.stdout = sys.stderr

    stop.wait()
    server.shutdown()
    serving.join()
    server.server_close()
    return 0

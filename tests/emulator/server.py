#!/usr/bin/env python3
"""moto server with rollgate's test extensions (see README.md in this folder).

    python tests/emulator/server.py [--port 0] [--exit-on-stdin-eof] [--verbose]

Listens on 127.0.0.1 only. Once the socket is bound and serving, prints exactly
one line to stdout and flushes it:

    ROLLGATE_EMULATOR_READY http://127.0.0.1:<port>

Nothing else is ever written to stdout (diagnostics go to stderr), so a parent
process can read that line and then ignore the pipe. The server stops cleanly
(exit status 0) on SIGTERM or SIGINT, and with --exit-on-stdin-eof also when
its stdin reaches EOF, i.e. when the parent process that holds the write end
of the pipe exits, even if it was killed.
"""

import os

# Must be set before moto is imported: the IAM backend reads it when built.
# It makes AWS managed policies such as AmazonECSTaskExecutionRolePolicy exist.
os.environ["MOTO_IAM_LOAD_MANAGED_POLICIES"] = "true"

# Before moto's service modules bind `utcnow`: a test may set the emulator's clock.
import clock  # noqa: E402

clock.install()

import argparse  # noqa: E402
import logging  # noqa: E402
import sys  # noqa: E402

from moto.moto_server.werkzeug_app import (  # noqa: E402
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import make_server  # noqa: E402

from rollgate_app import RollgateApp  # noqa: E402
from serving import serve_until_stopped  # noqa: E402

HOST = "127.0.0.1"
READY_PREFIX = "ROLLGATE_EMULATOR_READY"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--port", type=int, default=0, help="TCP port on 127.0.0.1; 0 (default) lets the OS pick a free one"
    )
    parser.add_argument(
        "--exit-on-stdin-eof", action="store_true", help="stop when stdin reaches EOF (parent exited)"
    )
    parser.add_argument("--verbose", action="store_true", help="log every request to stderr")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # werkzeug logs one line per request; that is noise in test output and,
    # worse, can fill a stderr pipe nobody reads and block the server.
    logging.getLogger("werkzeug").setLevel(logging.INFO if args.verbose else logging.ERROR)

    app = RollgateApp(DomainDispatcherApplication(create_backend_app))
    # make_server binds the socket right away, so port 0 yields a real, already
    # bound free port: no pick-then-bind race. threaded=True: one thread a request.
    server = make_server(HOST, args.port, app, threaded=True, request_handler=MotoRequestHandler)
    port = server.server_port
    os.environ["MOTO_PORT"] = str(port)  # moto builds some self-URLs from it

    return serve_until_stopped(server, f"{READY_PREFIX} http://{HOST}:{port}", args.exit_on_stdin_eof)


if __name__ == "__main__":
    sys.exit(main())

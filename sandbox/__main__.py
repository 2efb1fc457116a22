"""`python -m sandbox --port PORT [--host 127.0.0.1] [--seed demo] [--speed N]`."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from types import FrameType

from moto.moto_server.werkzeug_app import MotoRequestHandler
from werkzeug.serving import make_server


class QuietHandler(MotoRequestHandler):
    """Logs nothing per request: the portal's tests make thousands."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        return


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m sandbox", description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--seed", choices=["demo"], help="seed data to load at start-up")
    parser.add_argument(
        "--speed",
        type=float,
        default=1.0,
        help="divide every state delay by this (e.g. 100 in tests)",
    )
    parser.add_argument("--verbose", action="store_true", help="log every request")
    args = parser.parse_args(argv)
    if args.speed <= 0:
        parser.error("--speed must be positive")
    return args


def _stop(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING)

    # Imported here so that --help stays fast; registering the handlers is an import side effect.
    import sandbox.services  # noqa: F401
    from sandbox import seed
    from sandbox.runtime import runtime
    from sandbox.server import SandboxApp

    runtime.initial_settings.speed = args.speed
    runtime.settings.speed = args.speed
    app = SandboxApp()
    handler = MotoRequestHandler if args.verbose else QuietHandler
    server = make_server(args.host, args.port, app, threaded=True, request_handler=handler)
    if args.seed:
        seed.seed(args.seed)
    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    print(f"sandbox ready on http://{args.host}:{server.server_port}", flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()


if __name__ == "__main__":
    main(sys.argv[1:])

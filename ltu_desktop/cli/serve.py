"""`ltu-desktop serve`: the model as an OpenAI-compatible API on this computer (see README)."""

from __future__ import annotations

import argparse
import os
import sys
import time

from .common import add_model_args, load_engine

INSTALL_HINT = "pip install 'ltu-desktop[serve]'"


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("serve", help="serve the model through an OpenAI-compatible API (chat with audio, "
                                     "transcriptions) on localhost")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on; anything but loopback needs --api-key")
    p.add_argument("--port", type=int, default=8765, help="0 takes a free port")
    p.add_argument("--api-key", default=os.environ.get("LTU_DESKTOP_API_KEY"),
                   help="clients must send 'Authorization: Bearer KEY' (default: $LTU_DESKTOP_API_KEY)")
    p.add_argument("--max-queue", type=int, default=8,
                   help="requests that may wait behind the running one; more get 429 with Retry-After")
    p.add_argument("--max-upload-mb", type=float, default=25.0, help="larger requests get 413")
    add_model_args(p)
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    try:
        from ..server import Server, ServeError, check_exposure, create_app
    except ImportError as exc:
        print(f"error: serving needs the serve extra ({exc.name} is missing): {INSTALL_HINT}", file=sys.stderr)
        return 1
    try:
        check_exposure(args.host, args.api_key)  # before a model is loaded for nothing
        engine = load_engine(args)
        app = create_app(lambda: engine, api_key=args.api_key, max_queue=args.max_queue,
                         max_upload_bytes=int(args.max_upload_mb * 2**20),
                         on_request=None if args.quiet else _log)
        server = Server(app, args.host, args.port, api_key=args.api_key).start()
    except ServeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"Serving {engine.profile.describe()} as model {engine.profile.name!r} at {server.url}/v1 "
          f"(OpenAI-compatible; Ctrl+C stops)", file=sys.stderr, flush=True)
    try:
        while server.running:
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


def _log(served) -> None:
    if not served.done:
        return
    what = f"  {served.summary}" if served.summary else ""
    left = " (client left)" if served.left else ""
    print(f"{time.strftime('%H:%M:%S')} {served.status} {served.method} {served.path} {served.seconds:.2f} s"
          f"{left}{what}", file=sys.stderr, flush=True)

"""`ise-trace view PATH`: a local web page over a run folder or a built dataset folder.

    ise-trace view runs/r1                      # while `simulate` writes it: reload for new trajectories
    ise-trace view ise-trace --port 9000        # a dataset folder of `ise-trace build`
    ise-trace view ise-trace --export site/     # the same pages as static files (a Hub Space, a zip)

It binds 127.0.0.1 unless --host says otherwise, and serves only what is in PATH.
"""

from __future__ import annotations

import argparse
import signal
import sys

DEFAULT_PORT = 8765


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("view", help="a local web page over a run or dataset folder (list, filters, one trajectory); --export static")
    p.add_argument("path", metavar="PATH", help="a run folder of `ise-trace simulate` or a dataset folder of `ise-trace build`")
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port to listen on (default {DEFAULT_PORT}; 0 picks a free one)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    p.add_argument("--export", metavar="DIR", default=None, help="write the pages as static files into DIR instead of serving")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..view.source import open_source

    source = open_source(args.path)
    n = len(source.rows)
    what = "run folder" if source.kind == "run" else "dataset folder"
    if args.export:
        from ..view.export import export_static

        out = export_static(source, args.export)
        print(f"wrote the pages of {n:,} trajectories from {what} {args.path} to {out}; open {out}/index.html")
        return 0

    from ..view.server import ViewServer

    server = ViewServer(source, args.host, args.port)
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        print(f"warning: --host {args.host} lets other machines read {args.path}", file=sys.stderr)
    print(f"serving {what} {args.path} ({n:,} trajectories) at {server.url} (Ctrl-C to stop)", flush=True)
    # A process started in the background by a shell (or by a parent that ignores SIGINT) inherits
    # SIGINT ignored, and Python then never raises KeyboardInterrupt: stop on SIGINT and SIGTERM alike.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0

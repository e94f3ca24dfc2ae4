"""`ise-trace sandbox build|run|gc`: the workspace image, one-off commands, leaked containers."""

from __future__ import annotations

import argparse
import math
import sys

# Shorter than this, a command cannot even start: such a timeout is a typo, not a request.
MIN_TIMEOUT_S = 0.1


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("sandbox", help="build the workspace image; run a command in a fresh sandbox; remove leaks")
    verbs = p.add_subparsers(dest="verb", metavar="VERB", required=True)

    b = verbs.add_parser("build", help="build the workspace image (only what changed)")
    b.add_argument("--from-registry", action="store_true",
                   help="start from debian:bookworm-slim instead of a debootstrap base (needs a registry)")
    b.add_argument("--force", action="store_true", help="rebuild the workspace layer even if it exists")
    b.set_defaults(func=_build)

    r = verbs.add_parser("run", help="run one command in a fresh sandbox; exits with its exit code")
    r.add_argument("--timeout", type=float, default=None,
                   help=f"seconds before the command is killed (at least {MIN_TIMEOUT_S:g})")
    r.add_argument("cmd", nargs=argparse.REMAINDER, help="the command, after --")
    r.set_defaults(func=_run)

    g = verbs.add_parser("gc", help="remove leaked workspace containers")
    g.add_argument("--all", action="store_true", help="remove every ise-trace workspace, even live ones")
    g.add_argument("--run", default=None, help="only containers of this run id")
    g.set_defaults(func=_gc)


def _build(args: argparse.Namespace) -> int:
    from ..execute.image import build_image

    print(build_image(from_registry=args.from_registry, force=args.force))
    return 0


def _run(args: argparse.Namespace) -> int:
    import asyncio
    import shlex
    import uuid

    from ..config import SandboxConfig
    from ..errors import UserError
    from ..execute import Workspace
    from ..execute.image import require_image
    from ..execute.workspace import owner_labels

    cmd = args.cmd[1:] if args.cmd[:1] == ["--"] else args.cmd
    if not cmd:
        raise UserError("no command given: ise-trace sandbox run -- CMD [ARGS...]")
    if args.timeout is not None and not (math.isfinite(args.timeout) and args.timeout >= MIN_TIMEOUT_S):
        raise UserError(f"--timeout must be a number of seconds of at least {MIN_TIMEOUT_S:g}, not {args.timeout:g}")
    command = cmd[0] if len(cmd) == 1 else shlex.join(cmd)
    config = SandboxConfig()
    run_id = f"run-{uuid.uuid4().hex[:8]}"

    async def go() -> int:
        ws = Workspace(f"ise-trace-{run_id}", require_image(config), config, owner_labels(config, run_id))
        await ws.start()
        try:
            r = await ws.exec(command, timeout_s=args.timeout)
        finally:
            await ws.close()
        sys.stdout.write(r.output)
        if r.output and not r.output.endswith("\n"):
            sys.stdout.write("\n")
        return r.exit_code if r.exit_code is not None else 1

    return asyncio.run(go())


def _gc(args: argparse.Namespace) -> int:
    from ..execute.gc import collect

    removed = collect(everything=args.all, run_id=args.run)
    for name in removed:
        print(f"removed {name}")
    print(f"{len(removed)} leaked workspace(s) removed", file=sys.stderr)
    return 0

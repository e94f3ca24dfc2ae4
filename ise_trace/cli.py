"""The `ise-trace` console script.

Each subcommand lives in `ise_trace/commands/<name>.py` and exposes `register(subparsers)`, which
adds its parser and sets `func` to a callable taking the parsed args and returning an exit code.
Heavy imports stay inside those functions so `ise-trace --help` is instant.

Diagnostics are `logging` records, configured here once (`ise_trace/logs.py`): `-v` INFO, `-vv`
DEBUG, `-q/--quiet` errors only, else ISE_TRACE_LOG_LEVEL. Errors a user can fix stay one line.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from . import __version__
from .errors import UserError

# Order is the order shown in --help. A module that is not there yet is simply not offered.
COMMANDS = ["demo", "intents", "simulate", "build", "view", "stats", "push", "sandbox", "serve", "eval", "export"]


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ise-trace",
        description="Execution-grounded, multi-turn training data for OS agents.",
    )
    parser.add_argument("--version", action="version", version=f"ise-trace {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0,
                        help="more diagnostics on stderr: -v what each stage does, -vv debug (all libraries)")
    parser.add_argument("-q", "--quiet", dest="log_quiet", action="store_true",
                        help="errors only on stderr (progress lines stay; `build --quiet` hides its own)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        try:
            module = importlib.import_module(f".commands.{name}", __package__)
        except ModuleNotFoundError as e:
            if e.name == f"{__package__}.commands.{name}":
                continue
            raise
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = make_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    from .logs import configured, level_from

    try:
        with configured(level_from(args.verbose, args.log_quiet)):
            return int(args.func(args) or 0)
    except UserError as e:
        print(f"ise-trace {args.command}: error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt as e:
        print(f"ise-trace {args.command}: interrupted; rerun the same command to resume", file=sys.stderr)
        return 128 + getattr(e, "signum", 2)  # the shell's code for death by that signal: 130 or 143


if __name__ == "__main__":
    sys.exit(main())

"""`ise-trace demo`: the whole pipeline on embedded defaults, end to end on a CPU.

Stage I renders a few intents with the embedded model, Stage S+E simulates a user and an agent
over them in live sandboxes, and the build writes the dataset folder. Everything is resumable:
rerunning picks up where an interrupted demo stopped.
"""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="the whole pipeline on embedded defaults (local model, local Docker)")
    p.add_argument("--out", default="ise-trace", help="dataset folder to write (default: ./ise-trace)")
    p.add_argument("--n-intents", type=int, default=None, help="intents to sample (default: the demo preset's)")
    p.add_argument("--max-user-turns", type=int, default=None, help="user turns per episode (default: the preset's)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ..cli import main
    from ..execute.image import build_image

    build_image()  # a no-op when the image for this definition exists
    argv = ["build", "--config", "demo", "--out", args.out]
    if args.n_intents:
        argv += ["--n-intents", str(args.n_intents)]
    if args.max_user_turns:
        argv += ["--max-user-turns", str(args.max_user_turns)]
    code = main(argv)
    if code == 0:
        out = Path(args.out).resolve()
        print(
            "\nNext steps:\n"
            f"  ise-trace stats {args.out}\n"
            f"  python -c 'from datasets import load_dataset; print(load_dataset(\"{out}\"))'\n"
            f"  accelerate launch sft/train.py --config sft/recipes/tiny-cpu.yaml --dataset_name {out}"
        )
    return code

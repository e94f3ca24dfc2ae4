"""`ise-trace push DIR`: upload a built dataset folder to the Hub as a new version (commit + tag).

    ise-trace push ise-trace --repo my-org/ise-trace --version 1.0.0
    ise-trace push ise-trace --repo my-org/ise-trace --version 1.1.0 --endpoint https://hub.example.org

The token comes from --token, else HF_TOKEN, else `hf auth login`. Hubs without Xet storage take
the plain LFS upload path: set HF_HUB_DISABLE_XET=1 for them.
"""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("push", help="upload a built dataset folder to the Hub as a tagged version")
    p.add_argument("dir", help="dataset folder written by `ise-trace build`")
    p.add_argument("--repo", required=True, help="dataset repository ORG/NAME (created when missing)")
    p.add_argument("--version", required=True, help="semantic version X.Y.Z; the commit is tagged vX.Y.Z")
    p.add_argument("--endpoint", default=None, help="hub URL (default: HF_ENDPOINT or the Hugging Face Hub)")
    p.add_argument("--token", default=None, help="write token (default: HF_TOKEN or the stored login)")
    p.add_argument("--private", action="store_true", help="create the repository as private")
    p.add_argument("--quiet", action="store_true", help="no progress line")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..dataset.hub import push_folder

    result = push_folder(
        args.dir,
        args.repo,
        args.version,
        endpoint=args.endpoint,
        token=args.token,
        private=args.private,
        show_progress=not args.quiet,
    )
    print(f"pushed {result.files} files to {result.repo_id} as {result.tag} (commit {result.commit_oid[:12]})")
    if result.deleted:
        print(f"removed {result.deleted} files of the previous version that this one no longer has")
    print(f'load it with: load_dataset("{result.repo_id}", revision="{result.tag}")')
    return 0

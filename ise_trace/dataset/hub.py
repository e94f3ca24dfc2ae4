"""Push a built dataset folder to the Hub as a new version: one commit, tagged `vX.Y.Z`.

Large files go up first (LFS or Xet, in batches, as `huggingface_hub` decides), then one commit
references them all, so a version is atomic on the Hub: either the whole folder or nothing. Tags
are never moved: publishing a version twice is an error, and old versions stay loadable.
"""

from __future__ import annotations

import contextlib
import importlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ..errors import UserError
from ..progress import Progress
from .statistics import CorpusStats

SEMVER = re.compile(r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(-[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?$")
REPO_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*/[A-Za-z0-9][A-Za-z0-9_.-]*$")
# Paths of a repo that a push owns: files there that the new version lacks are deleted in its commit.
OWNED_PREFIXES = ("data/", "assets/")
UPLOAD_BATCH = 16  # files per preupload call: bounded memory and a progress step per batch


class PushError(UserError):
    """A push that cannot go ahead; nothing was tagged."""


@dataclass
class PushResult:
    repo_id: str
    tag: str
    commit_oid: str
    commit_url: str
    files: int
    deleted: int


def version_tag(version: str) -> str:
    v = version[1:] if version.startswith("v") else version
    if not SEMVER.match(v):
        raise PushError(
            f"--version {version}: not a semantic version; use MAJOR.MINOR.PATCH such as 1.0.0 (tag v1.0.0)"
        )
    return f"v{v}"


def check_folder(folder: Path) -> list[Path]:
    """The files of a built dataset folder, or an error when it is not one."""
    if not (folder / "README.md").is_file() or not (folder / "data").is_dir():
        raise PushError(f"{folder}: not a dataset folder (no README.md and data/); build it with `ise-trace build`")
    return sorted(p for p in folder.rglob("*") if p.is_file() and not any(s.startswith(".") for s in p.relative_to(folder).parts))


def commit_message(tag: str, stats: CorpusStats) -> tuple[str, str]:
    u = stats.user_turns
    title = f"ise-trace {tag}: {stats.trajectories:,} trajectories, {stats.intents:,} intents"
    body = "\n".join(
        [
            f"splits: {', '.join(f'{k} {v:,}' for k, v in stats.splits.items())}",
            f"user turns mean/median/max: {u.mean:.2f}/{u.median:g}/{u.max}",
            f"dialogue turns mean: {stats.dialogue_turns.mean:.2f}",
            f"tool calls mean: {stats.tool_calls.mean:.2f}; distinct tools per trajectory: {stats.unique_tools.mean:.2f}",
            "complexity complex/medium/simple: "
            + "/".join(f"{100 * stats.complexity_mix.get(c, 0):.0f}%" for c in ("complex", "medium", "simple")),
        ]
    )
    return title, body


def _transport_errors() -> tuple[type[BaseException], ...]:
    """Connection-level errors of the HTTP client huggingface_hub uses (httpx2 in 2.x, httpx in 1.x)."""
    errors: list[type[BaseException]] = [ConnectionError, TimeoutError]
    for name in ("httpx2", "httpx"):
        try:
            errors.append(importlib.import_module(name).TransportError)
        except ImportError:
            continue
    return tuple(errors)


@contextlib.contextmanager
def hub_errors(endpoint: str, repo_id: str) -> Iterator[None]:
    """Turn the client's transport and HTTP errors into one message each."""
    from huggingface_hub.errors import HfHubHTTPError, OfflineModeIsEnabled

    try:
        yield
    except OfflineModeIsEnabled:
        raise PushError("HF_HUB_OFFLINE is set, so nothing can be pushed: unset it and push again") from None
    except _transport_errors() as e:
        raise PushError(
            f"cannot reach the hub at {endpoint} ({type(e).__name__}: {e}); check --endpoint (or HF_ENDPOINT) "
            f"and the network, then push again"
        ) from None
    except HfHubHTTPError as e:
        status = e.response.status_code if e.response is not None else None
        if status == 401:
            raise PushError(
                f"the hub at {endpoint} rejected the token (401 Unauthorized); pass a valid --token, "
                f"set HF_TOKEN, or run `hf auth login`"
            ) from None
        if status == 403:
            raise PushError(f"the token may not write to {repo_id} on {endpoint} (403 Forbidden); use a write token") from None
        raise PushError(f"the hub at {endpoint} refused the push to {repo_id}: {e}") from None


@contextlib.contextmanager
def _client_progress_bars(show: bool) -> Iterator[None]:
    """huggingface_hub's own upload bars follow --quiet, and are restored afterwards."""
    from huggingface_hub.utils import are_progress_bars_disabled, disable_progress_bars, enable_progress_bars

    was_disabled = are_progress_bars_disabled()
    if not show:
        disable_progress_bars()
    try:
        yield
    finally:
        if not show and not was_disabled:
            enable_progress_bars()


def push_folder(
    folder: str | Path,
    repo_id: str,
    version: str,
    *,
    endpoint: str | None = None,
    token: str | None = None,
    private: bool = False,
    show_progress: bool = True,
) -> PushResult:
    from huggingface_hub import CommitOperationAdd, CommitOperationDelete, HfApi, get_token

    from .corpus_stats import stats_of_folder

    folder = Path(folder)
    tag = version_tag(version)
    if not REPO_ID.match(repo_id):
        raise PushError(f"--repo {repo_id}: expected ORG/NAME, e.g. my-org/ise-trace")
    files = check_folder(folder)
    token = token or get_token()
    if not token:
        raise PushError("no Hub token: pass --token, set HF_TOKEN, or run `hf auth login`")
    api = HfApi(endpoint=endpoint, token=token)
    stats = stats_of_folder(folder, embedder=None)
    title, body = commit_message(tag, stats)

    with hub_errors(api.endpoint, repo_id), _client_progress_bars(show_progress):
        api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True)
        refs = api.list_repo_refs(repo_id, repo_type="dataset")
        if any(t.name == tag for t in refs.tags):
            raise PushError(
                f"{repo_id} already has tag {tag}; a published version is never moved: push with a new --version"
            )
        head = next((b.target_commit for b in refs.branches if b.name == "main"), None)
        remote = set(api.list_repo_files(repo_id, repo_type="dataset")) if head else set()

        local = {p.relative_to(folder).as_posix(): p for p in files}
        additions = [CommitOperationAdd(path_in_repo=rel, path_or_fileobj=str(p)) for rel, p in local.items()]
        progress = Progress(total=len(additions), label="upload") if show_progress else None
        for i in range(0, len(additions), UPLOAD_BATCH):
            batch = additions[i : i + UPLOAD_BATCH]
            api.preupload_lfs_files(repo_id, additions=batch, repo_type="dataset")
            if progress:
                progress.update(n=len(batch))
        if progress:
            progress.close()
        stale = sorted(p for p in remote - local.keys() if p.startswith(OWNED_PREFIXES))
        deletions = [CommitOperationDelete(path_in_repo=p) for p in stale]
        # parent_commit: if someone else pushed since we looked, the commit fails instead of mixing versions.
        commit = api.create_commit(
            repo_id,
            operations=[*additions, *deletions],
            commit_message=title,
            commit_description=body,
            repo_type="dataset",
            parent_commit=head,
        )
        api.create_tag(repo_id, tag=tag, revision=commit.oid, tag_message=title, repo_type="dataset")
    return PushResult(
        repo_id=repo_id, tag=tag, commit_oid=commit.oid, commit_url=commit.commit_url, files=len(additions), deleted=len(stale)
    )

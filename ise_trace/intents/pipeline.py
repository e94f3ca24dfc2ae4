"""Stage I end to end: sample, render, validate, deduplicate, measure; resumable.

Files beside `--out intents.jsonl`:
  intents.jsonl             the unique intents, in sampling order once a run completes
  intents.duplicates.jsonl  every removed intent with why (exact / near, of which id, cosine)
  intents.rejects.jsonl     every failed render attempt with its reason; `final` marks a tuple
                            whose attempts were all used up
  intents.stats.json        counts, diversity, coverage, sampling-space size

While rendering, intents and rejects are appended whole and fsynced (`ise_trace.records`, whose
docstring states the repair policy for a torn last line), so an interrupted run loses at most the
tuples in flight. A rerun regenerates the same tuple sequence and skips
every id already in one of the three JSONL files; dedup and stats are then recomputed over all
of them.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import numpy as np

from ..config import IntentConfig
from ..errors import UserError
from ..fsio import write_json_atomic
from ..llm.base import ChatModel
from ..progress import Progress
from ..records import Appender, read, rewrite, validate
from ..schemas import Intent
from .dedup import deduplicate
from .renderer import IntentRenderer, RenderResult
from .sampler import IntentSampler, SampledIntent
from .stats import build_stats
from .task_maker import TaskMaker
from .taxonomy import Taxonomy

Embedder = Callable[[list[str]], np.ndarray]


@dataclass(frozen=True)
class OutputPaths:
    intents: Path
    duplicates: Path
    rejects: Path
    stats: Path

    @classmethod
    def beside(cls, out: str | Path) -> OutputPaths:
        out = Path(out)
        stem = out.name.removesuffix(".jsonl")
        return cls(
            intents=out,
            duplicates=out.with_name(f"{stem}.duplicates.jsonl"),
            rejects=out.with_name(f"{stem}.rejects.jsonl"),
            stats=out.with_name(f"{stem}.stats.json"),
        )


_FIX = "fix or delete that line, or choose another --out"


def _read_intents(path: Path, wrapped: bool = False) -> list[Intent]:
    """Intent records of a file (or of each line's `intent` field)."""
    if not wrapped:
        return [intent for _, intent in read(path, Intent, fix=_FIX, missing_ok=True)]
    out = []
    for number, obj in read(path, fix=_FIX, missing_ok=True):
        if not isinstance(obj.get("intent"), dict):
            raise UserError(f"{path}:{number}: field 'intent': expected the removed intent's record; {_FIX}")
        out.append(validate(path, number, Intent, obj["intent"], _FIX))
    return out


class IntentPipeline:
    def __init__(
        self,
        config: IntentConfig,
        model: ChatModel,
        out: str | Path,
        *,
        taxonomy: Taxonomy | None = None,
        embedder: Embedder | None = None,
        progress_stream: TextIO | None = None,
        pool=None,
    ):
        self.config = config
        self.model = model
        self.paths = OutputPaths.beside(out)
        self.taxonomy = taxonomy or Taxonomy.load(config.taxonomy_dir)
        self.sampler = IntentSampler(self.taxonomy, config)
        self.renderer = IntentRenderer(model, self.taxonomy, config)
        # Each intent's executable task, validated in a workspace of `pool`.
        self.maker = TaskMaker(self.renderer, model, self.taxonomy, config, pool)
        self.embedder = embedder or self._default_embedder
        self.progress_stream = progress_stream or sys.stderr

    def _default_embedder(self, texts: list[str]) -> np.ndarray:
        from .embeddings import embed

        return embed(texts, model=self.config.embedder)

    # ------------------------------------------------------------------ state on disk

    def _rendered(self) -> dict[str, Intent]:
        """Every intent rendered so far, kept or removed as a duplicate. A record in both files
        (a crash between the two rewrites) counts once."""
        records = {i.id: i for i in _read_intents(self.paths.duplicates, wrapped=True)}
        records.update((i.id, i) for i in _read_intents(self.paths.intents))
        for intent in records.values():
            if intent.seed != self.config.seed:
                raise UserError(
                    f"{self.paths.intents} holds intents sampled with seed {intent.seed}, not {self.config.seed}: "
                    f"rerun with --seed {intent.seed} to resume it, or choose another --out"
                )
        return records

    def _rejects(self) -> list[dict]:
        """Failed attempts, once each (a tuple in flight at a crash may have been retried)."""
        unique: dict[tuple, dict] = {}
        for number, obj in read(self.paths.rejects, fix=_FIX, missing_ok=True):
            if not {"id", "attempt", "reason"} <= obj.keys():
                raise UserError(f"{self.paths.rejects}:{number}: expected fields id, attempt, reason; {_FIX}")
            unique[(obj["id"], obj["attempt"], bool(obj.get("final")))] = obj
        return list(unique.values())

    # ------------------------------------------------------------------ the run

    async def run(self) -> dict[str, object]:
        started = time.monotonic()
        with Appender(self.paths.intents) as intents_out, Appender(self.paths.rejects) as rejects_out:
            rendered = self._rendered()
            finished = set(rendered) | {r["id"] for r in self._rejects() if r.get("final")}
            sequence = self.sampler.sample(self.config.n)
            todo = [s for s in sequence if s.id not in finished]
            progress = Progress(total=len(sequence), label="intents", stream=self.progress_stream)
            if len(sequence) > len(todo):
                progress.skip(len(sequence) - len(todo))
            counts = {"rendered": 0, "failed": 0, "rejected_drafts": 0}
            error: UserError | None = None
            try:
                await self._render_all(todo, intents_out, rejects_out, progress, counts)
            except UserError as e:  # server down, request refused, output unwritable: stop, keep, report
                error = e
            finally:
                progress.close()
        run = {
            "rendered_this_run": counts["rendered"],
            "failed_this_run": counts["failed"],
            "model_errors": int(error is not None),
            "stopped_by": str(error) if error else None,
            "elapsed_s": 0.0,
        }
        stats = self._finalise(sequence, run, started)
        if error is not None:
            raise UserError(
                f"{error}; the {stats['rendered']} intents rendered so far are kept in {self.paths.intents} "
                "(rerun the same command to resume)"
            ) from None
        return stats

    async def _render_all(
        self,
        todo: list[SampledIntent],
        intents_out: Appender,
        rejects_out: Appender,
        progress: Progress,
        counts: dict[str, int],
    ) -> None:
        waiting = iter(todo)
        pending: set[asyncio.Task[RenderResult]] = set()

        def refill() -> None:
            while len(pending) < self.config.concurrency:
                nxt = next(waiting, None)
                if nxt is None:
                    return
                pending.add(asyncio.create_task(self.maker.make(nxt)))

        refill()
        try:
            while pending:
                done, _ = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                pending.difference_update(done)
                failure = None
                for task in done:  # write every finished result before reporting a failure
                    if task.exception() is not None:
                        failure = failure or task.exception()
                        continue
                    self._record(task.result(), intents_out, rejects_out, progress, counts)
                if failure is not None:
                    raise failure
                refill()
        finally:
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)

    def _record(self, result: RenderResult, intents_out, rejects_out, progress: Progress, counts) -> None:
        s = result.sampled
        last = len(result.failures) - 1
        attempts = (
            {
                "id": s.id,
                "index": s.index,
                "attempt": n + 1,
                "reason": reason,
                "detail": detail,
                "final": result.intent is None and n == last,
            }
            for n, (reason, detail) in enumerate(result.failures)
        )
        rejects_out.append(*attempts)  # one write for the tuple's failed attempts
        if result.intent is not None:
            intents_out.append(result.intent.model_dump(mode="json"))
            counts["rendered"] += 1
        else:
            counts["failed"] += 1
        counts["rejected_drafts"] += len(result.failures)
        progress.update(ok=result.intent is not None, rejected_drafts=counts["rejected_drafts"])

    # ------------------------------------------------------------------ dedup and stats

    def _finalise(self, sequence: list[SampledIntent], run: dict[str, object], started: float) -> dict[str, object]:
        rendered = self._rendered()
        rejects = self._rejects()
        position = {s.id: s.index for s in sequence}
        # Sampling order makes the kept set independent of the order renders finished in.
        records = sorted(rendered.values(), key=lambda r: position.get(r.id, len(position)))
        kept_idx, removals, kept_X = deduplicate([r.text for r in records], self.embedder, self.config.near_dup_threshold)
        kept = [records[i] for i in kept_idx]
        # Duplicates first: a crash between the rewrites leaves a record in both files, never in none.
        rewrite(
            self.paths.duplicates,
            (
                {
                    "id": records[r.index].id,
                    "kind": r.kind,
                    "duplicate_of": records[r.duplicate_of].id,
                    "similarity": round(r.similarity, 4),
                    "intent": records[r.index].model_dump(mode="json"),
                }
                for r in removals
            ),
        )
        rewrite(self.paths.intents, (r.model_dump(mode="json") for r in kept))
        run["elapsed_s"] = round(time.monotonic() - started, 2)
        stats = build_stats(
            config=self.config,
            taxonomy=self.taxonomy,
            model=self.model.model,
            kept=kept,
            kept_embeddings=kept_X,
            removals=removals,
            rejects=rejects,
            processed=len(set(rendered) | {r["id"] for r in rejects if r.get("final")}),
            run=run,
        )
        try:
            write_json_atomic(self.paths.stats, stats)
        except OSError as e:
            raise UserError(f"cannot write {self.paths.stats}: {e.strerror or e}") from None
        return stats

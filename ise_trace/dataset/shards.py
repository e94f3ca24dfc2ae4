"""Parquet shards of bounded size, named as the Hub expects: `<split>-NNNNN-of-NNNNN.parquet`.

Rows are buffered a batch at a time per split and streamed into the current shard; a shard is
closed when its Arrow size passes the bound. The final count is only known at the end, so shards
are written under provisional names and renamed once every split is closed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BATCH_ROWS = 256  # one row group; small enough for streaming readers to fetch a few MB at a time


@dataclass
class _SplitWriter:
    folder: Path
    split: str
    schema: Any  # pyarrow.Schema with the `datasets` features in its metadata
    max_shard_bytes: int
    rows: list[dict[str, Any]] = field(default_factory=list)
    shards: list[Path] = field(default_factory=list)
    num_rows: int = 0
    num_bytes: int = 0
    _writer: Any = None
    _shard_bytes: int = 0

    def add(self, row: dict[str, Any]) -> None:
        self.rows.append(row)
        if len(self.rows) >= BATCH_ROWS:
            self._flush()

    def _flush(self) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        if not self.rows:
            return
        table = pa.Table.from_pylist(self.rows, schema=self.schema)
        self.rows = []
        if self._writer is None:
            path = self.folder / f".{self.split}-{len(self.shards):05d}.partial.parquet"
            self._writer = pq.ParquetWriter(path, self.schema, compression="zstd")
            self.shards.append(path)
            self._shard_bytes = 0
        self._writer.write_table(table)
        self._shard_bytes += table.nbytes
        self.num_rows += table.num_rows
        self.num_bytes += table.nbytes
        if self._shard_bytes >= self.max_shard_bytes:
            self._close_shard()

    def _close_shard(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def close(self) -> list[Path]:
        """Flush, close, and give each shard its final `<split>-i-of-n` name."""
        self._flush()
        self._close_shard()
        final = []
        for i, path in enumerate(self.shards):
            target = self.folder / f"{self.split}-{i:05d}-of-{len(self.shards):05d}.parquet"
            path.rename(target)
            final.append(target)
        return final


@dataclass
class ShardedWriter:
    """Writes the rows of one config into `folder`, one shard series per split."""

    folder: Path
    features: Any  # datasets.Features
    max_shard_bytes: int
    _splits: dict[str, _SplitWriter] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        self._schema = self.features.arrow_schema

    def add(self, split: str, row: dict[str, Any]) -> None:
        w = self._splits.get(split)
        if w is None:
            w = self._splits[split] = _SplitWriter(self.folder, split, self._schema, self.max_shard_bytes)
        w.add(row)

    def add_all(self, items: Iterable[tuple[str, dict[str, Any]]]) -> None:
        for split, row in items:
            self.add(split, row)

    def close(self) -> dict[str, SplitInfo]:
        return {
            name: SplitInfo(files=w.close(), num_rows=w.num_rows, num_bytes=w.num_bytes)
            for name, w in sorted(self._splits.items())
        }


@dataclass
class SplitInfo:
    files: list[Path]
    num_rows: int
    num_bytes: int  # Arrow (uncompressed) bytes, as `dataset_info` reports them

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

FIRST_BATCH_ROWS = 16  # measures the row size; later batches are sized from it
MAX_BATCH_ROWS = 1024
MAX_BATCH_BYTES = 32 * 1024 * 1024  # one row group: streaming readers fetch a few MB at a time


def storage_type(t):
    """`t` with extension types (at any depth) replaced by their storage types."""
    import pyarrow as pa

    if isinstance(t, pa.BaseExtensionType):
        return storage_type(t.storage_type)
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        item = t.value_field.with_type(storage_type(t.value_type))
        return pa.list_(item) if pa.types.is_list(t) else pa.large_list(item)
    if pa.types.is_struct(t):
        return pa.struct([f.with_type(storage_type(f.type)) for f in t])
    return t


def storage_schema(schema):
    import pyarrow as pa

    return pa.schema([f.with_type(storage_type(f.type)) for f in schema], metadata=schema.metadata)


@dataclass
class _SplitWriter:
    folder: Path
    split: str
    schema: Any  # pyarrow.Schema with the `datasets` features in its metadata
    storage_schema: Any  # the same with every extension type replaced by its storage type
    max_shard_bytes: int
    rows: list[dict[str, Any]] = field(default_factory=list)
    shards: list[Path] = field(default_factory=list)
    num_rows: int = 0
    num_bytes: int = 0
    _writer: Any = None
    _shard_bytes: int = 0
    _batch_rows: int = FIRST_BATCH_ROWS

    def add(self, row: dict[str, Any]) -> None:
        self.rows.append(row)
        if len(self.rows) >= self._batch_rows:
            self._flush()

    def _flush(self) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        if not self.rows:
            return
        # pyarrow builds extension types (Json) from Python objects only via their storage type
        table = pa.Table.from_pylist(self.rows, schema=self.storage_schema).cast(self.schema)
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
        # Batches of at most an eighth of a shard keep every shard within 1/8 of its bound.
        target = min(self.max_shard_bytes / 8, MAX_BATCH_BYTES)
        self._batch_rows = max(1, min(MAX_BATCH_ROWS, int(target * self.num_rows / max(self.num_bytes, 1))))
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
            w = self._splits[split] = _SplitWriter(
                self.folder, split, self._schema, storage_schema(self._schema), self.max_shard_bytes
            )
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

"""Parquet shards of bounded size, named as the Hub expects: `<split>-NNNNN-of-NNNNN-<fp>.parquet`.

Rows (Python dicts, or Arrow tables from the fast ledger reader) are buffered a batch at a time per
split and streamed into the current shard; a shard is closed when its Arrow size passes the bound. The final count and the fingerprint are only known at
the end, so shards are written under provisional names and renamed once their split is closed.

Why the fingerprint `<fp>` (a hash of the split's bytes): `datasets` caches a local folder's
named configs under `<folder name>/<config>/<hash of the card's YAML>`. That hash covers the
`configs:` globs as written (not the files they match, their sizes or times) and `dataset_info`
(features, rows and bytes per split), so a folder rebuilt in place, or another folder of the
same name, holding other rows of the same sizes would be served the old rows from the cache.
With the fingerprint in the file names and so in the globs, the YAML changes exactly when the
content does, an identical rebuild keeps its names and its cache, and a glob never matches a
foreign shard. A value put in the card only to move the hash (`datasets` drops unknown config
fields, so it would have to be, say, a `description` in `dataset_info`) would be tied to the
files by nothing but our word, and would not change when the files are replaced by hand.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

FIRST_BATCH_ROWS = 16  # measures the row size; later batches are sized from it
MAX_BATCH_ROWS = 1024
MAX_BATCH_BYTES = 32 * 1024 * 1024  # one row group: streaming readers fetch a few MB at a time
FINGERPRINT_CHARS = 12  # hex digits of sha256: 48 bits, no collision between builds in practice
# A shard of any split, with or without a fingerprint (older builds had none).
SHARD_NAME = re.compile(r"[\w.]+-\d{5}-of-\d{5}(-[0-9a-f]+)?\.parquet")


def shard_glob(split: str, fingerprint: str) -> str:
    """The glob matching exactly the shards of one split written with this fingerprint."""
    return f"{split}-*-{fingerprint}.parquet"


def fingerprint(paths: list[Path]) -> str:
    """Short hash of the files' bytes, in order."""
    h = hashlib.sha256()
    for path in paths:
        with path.open("rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()[:FINGERPRINT_CHARS]


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


def _fresh(table):
    """`table` laid out as `Table.from_pylist` lays it out: one chunk from offset 0, and a
    validity bitmap only on arrays that hold a null.

    `num_bytes` in the card is the Arrow size of the rows, and Arrow counts what a layout
    carries: a slice's bitmaps from the byte its offset falls in, and the all-valid bitmaps that
    a filter or a JSON reader leaves. Rows from any path then report the same size.
    """
    import pyarrow as pa

    table = table.combine_chunks()
    if any(c.num_chunks and c.chunk(0).offset for c in table.columns):
        import pyarrow.compute as pc

        table = pc.take(table, list(range(table.num_rows))).combine_chunks()
    columns = [_without_empty_bitmaps(c.chunk(0)) if c.num_chunks else c for c in table.columns]
    return pa.Table.from_arrays(columns, schema=table.schema)


def _without_empty_bitmaps(arr):
    import pyarrow as pa

    t = arr.type  # a storage type: no extension types here
    if pa.types.is_struct(t):
        children = [_without_empty_bitmaps(arr.field(i)) for i in range(t.num_fields)]
    elif pa.types.is_list(t) or pa.types.is_large_list(t):
        children = [_without_empty_bitmaps(arr.values)]
    else:
        children = None
    own = _own_buffers(arr)
    if arr.null_count == 0:
        own = [None, *own[1:]]
    return pa.Array.from_buffers(t, len(arr), own, null_count=arr.null_count, offset=arr.offset, children=children)


def _own_buffers(arr) -> list:
    """The buffers of `arr` itself, without those of its children (`Array.buffers()` lists all)."""
    import pyarrow as pa

    t = arr.type
    if pa.types.is_struct(t):
        return arr.buffers()[:1]
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        return arr.buffers()[:2]
    return arr.buffers()


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
    tables: list[Any] = field(default_factory=list)  # pyarrow.Tables in the storage schema, not yet written
    _table_rows: int = 0

    def add(self, row: dict[str, Any]) -> None:
        self.rows.append(row)
        if len(self.rows) >= self._batch_rows:
            self._flush()

    def add_table(self, table) -> None:
        """Rows already in Arrow (storage schema), written in the same batches as `add` makes."""
        import pyarrow as pa

        if self.rows:
            self._flush()
        self.tables.append(table)
        self._table_rows += table.num_rows
        while self._table_rows >= self._batch_rows:
            pending = pa.concat_tables(self.tables)
            n = self._batch_rows
            rest = pending.slice(n)
            self.tables, self._table_rows = ([rest] if rest.num_rows else []), rest.num_rows
            self._write(_fresh(pending.slice(0, n)).cast(self.schema))

    def _flush(self) -> None:
        import pyarrow as pa

        if self.tables:
            pending, self.tables, self._table_rows = pa.concat_tables(self.tables), [], 0
            self._write(_fresh(pending).cast(self.schema))
        if not self.rows:
            return
        # pyarrow builds extension types (Json) from Python objects only via their storage type
        table = pa.Table.from_pylist(self.rows, schema=self.storage_schema).cast(self.schema)
        self.rows = []
        self._write(table)

    def _write(self, table) -> None:
        import pyarrow.parquet as pq

        if not table.num_rows:
            return
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

    def close(self) -> SplitInfo:
        """Flush, close, and give each shard its final `<split>-i-of-n-<fingerprint>` name."""
        self._flush()
        self._close_shard()
        fp = fingerprint(self.shards)
        final = []
        for i, path in enumerate(self.shards):
            target = self.folder / f"{self.split}-{i:05d}-of-{len(self.shards):05d}-{fp}.parquet"
            path.rename(target)
            final.append(target)
        return SplitInfo(files=final, glob=shard_glob(self.split, fp), num_rows=self.num_rows, num_bytes=self.num_bytes)


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
        self._split(split).add(row)

    def _split(self, split: str) -> _SplitWriter:
        w = self._splits.get(split)
        if w is None:
            w = self._splits[split] = _SplitWriter(
                self.folder, split, self._schema, storage_schema(self._schema), self.max_shard_bytes
            )
        return w

    def add_table(self, split: str, table) -> None:
        """Rows of one split as a pyarrow.Table in the storage schema (`Json()` fields as strings)."""
        self._split(split).add_table(table)

    def add_all(self, items: Iterable[tuple[str, dict[str, Any]]]) -> None:
        for split, row in items:
            self.add(split, row)

    def close(self) -> dict[str, SplitInfo]:
        """Close every split, then remove shards an earlier write left in the folder.

        A rewrite in place used to overwrite shards of the same name; with fingerprints the
        names change, so the old series go explicitly. The folder then holds exactly the
        series written here, which readers globbing `<split>-*.parquet` rely on.
        """
        infos = {name: w.close() for name, w in sorted(self._splits.items())}
        written = {path for info in infos.values() for path in info.files}
        for path in self.folder.iterdir():
            if SHARD_NAME.fullmatch(path.name) and path not in written:
                path.unlink()
        return infos


@dataclass
class SplitInfo:
    files: list[Path]
    glob: str  # matches `files` and nothing else, relative to the config's folder
    num_rows: int
    num_bytes: int  # Arrow (uncompressed) bytes, as `dataset_info` reports them

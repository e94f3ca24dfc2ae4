"""Paging over a dataset folder of the paper's size (23,132 trajectories).

The rows are cheap: forty synthetic trajectories in the dataset's own Arrow schema
(`features.trajectory_features`), tiled to 23,132 rows with fresh ids, written straight to parquet
shards named as `build` names them. What is checked is what the list costs: the index reads only
the list columns (never messages, tools, executions, workspace files or check outputs), a page is
50 rows, and only opening a trajectory reads a row group. No timing is asserted.
"""

from __future__ import annotations

import json
import urllib.parse
import urllib.request

import pytest

from tests.view.conftest import serving

PAPER_TRAJECTORIES = 23_132
TEMPLATES = 40
SHARDS = {"train": 2, "validation": 1, "test": 1}

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def paper_folder(tmp_path_factory):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from ise_trace.dataset.features import trajectory_features, trajectory_row
    from ise_trace.dataset.shards import storage_schema
    from tests.view.conftest import synthetic

    schema = storage_schema(trajectory_features().arrow_schema)
    template = pa.Table.from_pylist([trajectory_row(synthetic(i)) for i in range(TEMPLATES)], schema=schema)
    whole = pa.concat_tables([template] * (PAPER_TRAJECTORIES // TEMPLATES + 1)).slice(0, PAPER_TRAJECTORIES)
    ids = pa.array([f"paper-{i:05d}" for i in range(PAPER_TRAJECTORIES)])
    whole = whole.set_column(whole.schema.get_field_index("id"), "id", ids)

    folder = tmp_path_factory.mktemp("paper") / "ise-trace"
    shard_dir = folder / "data" / "trajectories"
    shard_dir.mkdir(parents=True)
    total = sum(SHARDS.values())
    start, per = 0, -(-PAPER_TRAJECTORIES // total)
    for split, n in SHARDS.items():
        for k in range(n):
            part = whole.slice(start, per)
            start += part.num_rows
            pq.write_table(part, shard_dir / f"{split}-{k:05d}-of-{n:05d}-0123456789ab.parquet", row_group_size=1024)
    (folder / "README.md").write_text("---\nconfigs: []\n---\n")
    return folder


def test_the_list_reads_list_columns_only(paper_folder):
    from ise_trace.view.source import LIST_LEAVES, DatasetSource, Query, _leaf

    source = DatasetSource(paper_folder)
    assert len(source.rows) == PAPER_TRAJECTORIES and len(source.shards) == 4
    read = {_leaf(c) for c in source.columns_read}
    assert read == set(LIST_LEAVES)
    assert not any(c.split(".")[0] in ("messages", "tools", "executions") for c in source.columns_read)
    assert not any(c.startswith(("intent.workspace", "intent.checks", "verification.checks", "verification.snapshot"))
                   for c in source.columns_read)

    page = source.list(Query(limit=50))
    assert page["total"] == page["matched"] == PAPER_TRAJECTORIES and len(page["rows"]) == 50
    last = source.list(Query(offset=PAPER_TRAJECTORIES - 10, limit=50))
    assert [r["id"] for r in last["rows"]][-1] == f"paper-{PAPER_TRAJECTORIES - 1:05d}" and len(last["rows"]) == 10
    filtered = source.list(Query(failed=True, verification="failed", limit=50))
    assert 0 < filtered["matched"] < PAPER_TRAJECTORIES and len(filtered["rows"]) == 50
    assert all(r["failed_calls"] and r["verification"] == "failed" for r in filtered["rows"])
    assert source.row_groups_read == 0  # listing, filtering and paging never touched a whole row

    opened = source.trajectory(source.position("paper-12345"))
    assert opened["id"] == "paper-12345" and opened["messages"] and opened["view"]["problem"] is None
    assert source.row_groups_read == 1


def test_a_page_over_http_is_50_rows(paper_folder):
    with serving(paper_folder) as server:
        with urllib.request.urlopen(server.url + "api/list?" + urllib.parse.urlencode({"offset": 50, "limit": 50}), timeout=60) as r:
            body = r.read()
        data = json.loads(body)
        assert data["total"] == PAPER_TRAJECTORIES and len(data["rows"]) == 50
        assert [row["id"] for row in data["rows"]] == [f"paper-{i:05d}" for i in range(50, 100)]
        assert len(body) < 200_000  # a page, not the corpus
        with urllib.request.urlopen(server.url + "api/trajectory?id=paper-23131", timeout=60) as r:
            assert json.load(r)["id"] == "paper-23131"

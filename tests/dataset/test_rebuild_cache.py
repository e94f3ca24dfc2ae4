"""A folder rebuilt in place, or another folder of the same name, loads its own rows, never cached ones.

`datasets` caches a local folder's configs under its base name and a hash of the card's YAML, so
the two builds here are made to differ only in content: same rows per split, same Arrow sizes,
hence the same `dataset_info`. Only the shards' content fingerprints tell them apart.
"""

from __future__ import annotations

import shutil

import yaml

from tests.dataset.synthetic import write_run_dir

N = 12


def _runs(root):
    """Two run directories whose trajectories differ only in the first letter of their ids."""
    t_run = write_run_dir(root / "run-t", N, user_turns=1)
    u_run = root / "run-u"
    shutil.copytree(t_run, u_run)
    ledger = u_run / "trajectories.jsonl"
    text = ledger.read_text(encoding="utf-8")
    assert text.count('"id":"t-') == N
    ledger.write_text(text.replace('"id":"t-', '"id":"u-'), encoding="utf-8")
    return t_run, u_run


def _dataset_info(folder):
    readme = (folder / "README.md").read_text(encoding="utf-8")
    return yaml.safe_load(readme[4 : readme.index("\n---", 4)])["dataset_info"]


def _shards(folder):
    return sorted(p.name for p in (folder / "data").rglob("*.parquet"))


def test_rebuilt_folder_loads_fresh_rows(tmp_path, monkeypatch, small_build):
    from datasets import load_dataset

    from ise_trace.dataset.folder import build_folder

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    cache = str(tmp_path / "hf" / "datasets")  # one cache for every load, as a user has

    def first_letters(path, cwd=None):
        if cwd is not None:
            monkeypatch.chdir(cwd)
        ds = load_dataset(path, cache_dir=cache)
        return {row_id[0] for split in ds.values() for row_id in split["id"]}

    def build(run, out):
        build_folder(small_build, out, run_dir=run, show_progress=False)
        return out

    t_run, u_run = _runs(tmp_path)
    a = build(t_run, tmp_path / "a" / "ise-trace")
    b = build(u_run, tmp_path / "b" / "ise-trace")
    assert _dataset_info(a) == _dataset_info(b)  # the card's sizes cannot tell the builds apart
    first_build = _shards(a)

    # two folders of the same name
    assert first_letters(str(a)) == {"t"}
    assert first_letters(str(b)) == {"u"}
    assert first_letters("ise-trace", cwd=b.parent) == {"u"}

    # one folder rebuilt in place with other content, loaded by path and by name
    build(u_run, a)
    assert first_letters(str(a)) == {"u"}
    assert first_letters("ise-trace", cwd=a.parent) == {"u"}
    intents = load_dataset(str(a), "intents", cache_dir=cache)
    assert sum(len(split) for split in intents.values()) == N

    # back to the first content: the same file names, so its cache is rightly used again
    build(t_run, a)
    assert _shards(a) == first_build
    assert first_letters("ise-trace", cwd=a.parent) == {"t"}


def test_writing_shards_into_a_used_folder_replaces_its_series(tmp_path):
    """Fingerprinted names no longer overwrite an earlier write's shards, so the writer removes
    them: readers that glob `<split>-*.parquet` must see the new rows only."""
    import pyarrow.parquet as pq

    from ise_trace.dataset.features import trajectory_features, trajectory_row
    from ise_trace.dataset.shards import ShardedWriter
    from tests.dataset.synthetic import make_trajectory

    folder = tmp_path / "data" / "trajectories"
    rows = [trajectory_row(make_trajectory(i, user_turns=1)) for i in range(5)]

    def write(splits):
        writer = ShardedWriter(folder, trajectory_features(), max_shard_bytes=1 << 30)
        for split, n in splits.items():
            for row in rows[:n]:
                writer.add(split, row)
        return writer.close()

    write({"train": 5, "validation": 2})
    (folder / "README.txt").write_text("not a shard", encoding="utf-8")
    infos = write({"train": 3})
    assert sorted(p.name for p in folder.iterdir()) == sorted([infos["train"].files[0].name, "README.txt"])
    assert sum(pq.ParquetFile(p).metadata.num_rows for p in folder.glob("train-*.parquet")) == 3

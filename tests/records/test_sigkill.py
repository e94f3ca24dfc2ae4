"""A real SIGKILL at a random moment of a real append loop: the file reads back as whole records.

A child process appends batches of large records (so a kill often lands inside a write) and
prints the last sequence number whose `append` returned. The parent kills it with SIGKILL, then
checks: every record that the child counted as stored is there, nothing is there twice, no line is
half a record, and a new appender (the resume) cuts any torn tail and continues the sequence.
"""

from __future__ import annotations

import hashlib
import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from ise_trace import records
from ise_trace.records import Appender

REPO = Path(__file__).resolve().parents[2]

CHILD = textwrap.dedent(
    """
    import hashlib, random, sys
    from ise_trace import records
    from ise_trace.records import Appender

    path, seed = sys.argv[1], int(sys.argv[2])
    rng = random.Random(seed)
    with Appender(path) as out:
        seq = sum(1 for _ in records.lines(path))  # resume after the records already there
        while True:
            batch = []
            for _ in range(rng.randint(1, 3)):
                pad = rng.choice("abcdef") * rng.choice([10, 1_000, 300_000, 2_000_000])
                batch.append({"seq": seq, "pad": pad, "sha": hashlib.sha256(pad.encode()).hexdigest()})
                seq += 1
            out.append(*batch)
            print(seq - 1, flush=True)  # stored: append returned
    """
)


def _kill_once(path: Path, seed: int) -> int:
    """Run the child until it stored a few batches plus a random moment, SIGKILL it; returns the
    last sequence number it reported as stored (-1 for none)."""
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(path), str(seed)],
        stdout=subprocess.PIPE, text=True, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    stored = -1
    try:
        for _ in range(3):  # at least a few appends returned before the kill
            stored = int(child.stdout.readline())
        time.sleep(random.Random(seed).uniform(0.0, 0.3))
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(30)
    for line in child.stdout.read().splitlines():  # reported before the kill, read after it
        stored = int(line)
    assert child.returncode == -signal.SIGKILL
    return stored


def test_appends_survive_sigkill_and_a_resume_continues_the_sequence(tmp_path):
    path = tmp_path / "ledger.jsonl"
    torn_seen = 0
    for round_ in range(6):
        stored = _kill_once(path, seed=round_)
        data = path.read_bytes()
        torn_seen += not data.endswith(b"\n")
        got = [r for _, r in records.read(path)]  # a torn tail is skipped, anything else would raise
        seqs = [r["seq"] for r in got]
        assert seqs == list(range(len(seqs))), "a record is missing or duplicated"
        assert seqs[-1] >= stored, "a record whose append returned is gone"
        assert seqs[-1] <= stored + 3, "more than the one batch in flight appeared"
        assert all(hashlib.sha256(r["pad"].encode()).hexdigest() == r["sha"] for r in got)
        with Appender(path) as out:  # the resume: the torn tail (if any) is cut, whole lines remain
            assert path.read_bytes() == data[: len(data) - out.dropped_bytes]
            assert path.read_bytes().endswith(b"\n")
    print(f"torn tails after SIGKILL: {torn_seen}/6 rounds")  # shown with -s; either way nothing was lost

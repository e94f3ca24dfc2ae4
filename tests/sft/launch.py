"""Helpers of the SFT tests: import the scripts under sft/ and run them as a user does."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT / "sft") not in sys.path:  # sft/sft_data.py is imported as `sft_data`, as train.py does
    sys.path.insert(0, str(ROOT / "sft"))
OFFLINE = {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}


def load_script(name: str):
    """Import sft/<name>.py by path: the scripts live beside the package, not in it."""
    spec = importlib.util.spec_from_file_location(f"sft_{name}", ROOT / "sft" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def tiny_args(tiny, out: Path, *extra: str) -> list[str]:
    """Flags that run the tiny recipe on the fixture's model and dataset."""
    return [
        "--config", str(ROOT / "sft" / "recipes" / "tiny-cpu.yaml"),
        "--model_name_or_path", str(tiny.model), "--dataset_name", str(tiny.dataset),
        "--output_dir", str(out), *extra,
    ]


def accelerate_launch(*args: str, timeout: int = 420) -> subprocess.CompletedProcess:
    """`accelerate launch` of sft/train.py on one CPU process, as a user runs it.

    One thread: the test machine is shared, and two spinning OpenMP threads slow each step several times.
    """
    cmd = [
        sys.executable, "-m", "accelerate.commands.launch", "--num_processes", "1", "--num_machines", "1",
        "--cpu", "--mixed_precision", "no", "--dynamo_backend", "no", "--num_cpu_threads_per_process", "1",
        str(ROOT / "sft" / "train.py"), *args,
    ]
    return subprocess.run(
        cmd, cwd=ROOT, env={**os.environ, **OFFLINE}, capture_output=True, text=True, timeout=timeout
    )

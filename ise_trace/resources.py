"""The files ise-trace ships that are edited outside the package: `sandbox/`, `dataset_card.md`
and `eval/claw_eval/` (at the repository root, where DESIGN.md puts them).

A wheel carries them as package data under `ise_trace/_data/` (setup.py copies them there at build
time; nothing is committed twice), so an installed ise-trace never reads a source tree. In a
checkout (an editable install) there is no `_data`, and they are read where they are edited.

    from ise_trace.resources import resource
    evaluate.load(str(resource("eval/claw_eval")))
"""

from __future__ import annotations

from pathlib import Path

PACKAGE = Path(__file__).resolve().parent
PACKAGED = PACKAGE / "_data"
CHECKOUT = PACKAGE.parent

# Repository path -> where the wheel puts it (below PACKAGED). setup.py reads this mapping.
SHIPPED = ("sandbox", "dataset_card.md", "eval/claw_eval")


def resource(name: str) -> Path:
    """Path of a shipped file or folder, `name` as it is in the repository ('eval/claw_eval')."""
    if name not in SHIPPED:
        raise KeyError(f"{name}: not a file ise-trace ships (one of {', '.join(SHIPPED)})")
    if PACKAGED.is_dir() or not is_checkout():
        return PACKAGED / name  # installed: the packaged copy, even when it is missing (the caller says so)
    return CHECKOUT / name


def is_checkout() -> bool:
    """True when this package is imported from an ise-trace source tree (not an installed wheel)."""
    project = CHECKOUT / "pyproject.toml"
    try:
        return 'name = "ise-trace"' in project.read_text(encoding="utf-8")
    except OSError:
        return False

"""Build hook of the wheel: ship sandbox/, dataset_card.md and eval/claw_eval as package data.

They are edited at the repository root (DESIGN.md); the wheel carries a copy of each under
ise_trace/_data/, made here at build time, so an installed ise-trace never reads a source tree
(ise_trace/resources.py finds them). Everything else is in pyproject.toml.
"""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
SHIPPED = ("sandbox", "dataset_card.md", "eval/claw_eval")  # as ise_trace.resources.SHIPPED
IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc")


class build_py_with_shipped_files(build_py):
    def run(self):
        super().run()
        if getattr(self, "editable_mode", False):
            return  # an editable install reads them where they are edited
        target = Path(self.build_lib) / "ise_trace" / "_data"
        shutil.rmtree(target, ignore_errors=True)
        for name in SHIPPED:
            source, dest = ROOT / name, target / name
            if not source.exists():
                raise SystemExit(f"{source}: missing; the wheel ships it (build from a full checkout or sdist)")
            dest.parent.mkdir(parents=True, exist_ok=True)
            if source.is_dir():
                shutil.copytree(source, dest, ignore=IGNORED)
            else:
                shutil.copy2(source, dest)


setup(cmdclass={"build_py": build_py_with_shipped_files})

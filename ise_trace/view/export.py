"""`ise-trace view PATH --export DIR`: the same pages as static files, for sharing or a Hub Space.

    DIR/index.html          the page, with data/index.js loaded before the script
    DIR/static/app.js, style.css
    DIR/data/index.js       every list row (the summaries), as `ISE_STATIC_INDEX = {...}`
    DIR/data/t/<pos>.js     one trajectory each, as `ISE_STATIC_TRAJECTORY(<pos>, {...})`

Data are script files rather than JSON fetched by the page, so the export opens from a folder
(file://) as well as from any static web host. Without a server the page filters and pages the
summaries itself, with the same rules as `source.run_query`. DIR is replaced whole, atomically.
"""

from __future__ import annotations

import json
from pathlib import Path

from ..errors import UserError
from ..fsio import atomic_dir
from .server import asset
from .source import Source

DATA_MARK = "<!--static-data-->"


def _js(data: object) -> str:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


def export_static(source: Source, out: str | Path) -> Path:
    """Write the static site for `source` into `out`; returns `out`."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise UserError(f"--export {out}: this is a file; give a folder to write the pages into")
    try:
        out.resolve().relative_to(source.path.resolve())
        inside = True
    except ValueError:
        inside = False
    if inside:
        raise UserError(f"--export {out}: inside the folder being viewed ({source.path}); choose a folder outside it")
    with source.lock:
        source.refresh()
        rows = list(source.rows)
    page = asset("index.html").decode("utf-8")
    if DATA_MARK not in page:
        raise AssertionError("index.html lost its static-data marker")
    page = page.replace(DATA_MARK, '<script src="data/index.js"></script>')
    with atomic_dir(out) as tmp:
        (tmp / "static").mkdir()
        (tmp / "data" / "t").mkdir(parents=True)
        (tmp / "index.html").write_text(page, encoding="utf-8")
        for name in ("app.js", "style.css"):
            (tmp / "static" / name).write_bytes(asset(name))
        index = {"source": source.describe(), "rows": [s.as_json() for s in rows]}
        (tmp / "data" / "index.js").write_text(f"window.ISE_STATIC_INDEX = {_js(index)};\n", encoding="utf-8")
        for s in rows:
            body = _js(source.trajectory(s.pos))
            (tmp / "data" / "t" / f"{s.pos}.js").write_text(f"ISE_STATIC_TRAJECTORY({s.pos}, {body});\n", encoding="utf-8")
    return out

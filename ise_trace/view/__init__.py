"""`ise-trace view`: a local web page over a run folder or a built dataset folder.

`source` indexes the trajectories (list rows in memory, full records read when opened), `server`
serves the page and its JSON endpoints on loopback, `export` writes the same pages as static files.
The page itself is `static/` (HTML, CSS and vanilla JavaScript; no build step, nothing from a CDN).
"""

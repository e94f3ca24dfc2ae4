"""The dataset folder: read a run, split, write parquet shards, compute statistics, render the card, push.

`ise-trace build`, `ise-trace stats`, `ise-trace push` and the `datasets` builder in `builder/`
are thin layers over these modules.
"""

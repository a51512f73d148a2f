"""`make bench`: the extraction engine against raw COPY and a naive cursor baseline.

- ``bench.dataset``: the 10-column benchmark table, filled with ``INSERT ... SELECT generate_series``.
- ``bench.paths``: one measured path, run in a process of its own (``python -m bench.paths <path>``).
- ``bench.run``: starts the local stack, runs every path, checks the targets, writes the report.

Dev tooling, never shipped in a Lambda zip.
"""

"""`make bench`: the extraction engine against raw COPY and a naive cursor baseline.

- ``bench.dataset``: the 10-column benchmark table, filled with ``INSERT ... SELECT generate_series``.
- ``bench.paths``: one measured path, run in a process of its own (``python -m bench.paths <path>``).
- ``bench.job``: a path's job and result, as they cross the process boundary in JSON.
- ``bench.proc``: what /proc says: PostgreSQL's CPU time, this process's memory.
- ``bench.run``: starts the local stack, runs every path, writes the report.
- ``bench.results``: what a run measured and the targets it is judged by.
- ``bench.report``: the Markdown report and the model.

Dev tooling, never shipped in a Lambda zip.
"""

"""The bench's own error, in a module of its own: bench/paths.py and bench/proc.py both raise it."""

from __future__ import annotations

from aurora_batch.errors import PermanentError


class BenchPathError(PermanentError):
    """A benchmark path failed or reported nonsense."""

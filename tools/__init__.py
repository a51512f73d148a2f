"""Developer and CI tooling. Never shipped in a Lambda artifact."""

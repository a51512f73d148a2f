"""Verify and repair: compare the source with the target by hierarchical digests, and fix only
the keys that differ (see docs/ARCHITECTURE.md, "Verify: hierarchical digests")."""

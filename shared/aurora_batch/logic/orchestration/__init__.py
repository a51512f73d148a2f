"""A run spread over the state machine's tasks: plan, extract_slice (one per slice, in a
Distributed Map), load, commit, and release on failure (see docs/ARCHITECTURE.md)."""

from aurora_batch.logic.orchestration.actions import handle_orchestration_action

__all__ = ["handle_orchestration_action"]

"""The replication function's state-machine actions: plan, extract_slice, load, commit, release.
Each names one configured table and, after `plan`, the run; what they mean comes from the run's
plan in the state (see map_run.py). A failed action raises: the state machine's Catch releases."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from aurora_batch.config import Settings
from aurora_batch.config.events import orchestration_event, orchestration_table
from aurora_batch.logic.orchestration.map_run import MapRun
from aurora_batch.logic.replicate import Services
from aurora_batch.observability import bind_run


class OrchestrationRuntime(Protocol):
    @property
    def settings(self) -> Settings: ...

    def services(self) -> Services: ...


def handle_orchestration_action(event: Mapping[str, Any], runtime: OrchestrationRuntime) -> dict[str, Any]:
    """Run one action. An event outside its contract raises ConfigError before any connection."""
    parsed = orchestration_event(event)
    options = orchestration_table(runtime.settings, parsed)
    services = runtime.services()
    run = MapRun(options, runtime.settings, services, run_id=parsed.run_id)
    bind_run(run.report.run_id, options.ref.qualified)
    try:
        if parsed.action == "plan":
            return run.plan()
        if parsed.action == "extract_slice":
            assert parsed.slice is not None and parsed.run_prefix is not None
            return run.extract_slice(parsed.slice, parsed.run_prefix)
        if parsed.action == "load":
            assert parsed.slices is not None and parsed.run_prefix is not None
            return run.load(parsed.slices, parsed.run_prefix)
        if parsed.action == "commit":
            return run.commit()
        assert parsed.error is not None
        return run.release(parsed.error)
    finally:
        run.close()
        services.staging.close()

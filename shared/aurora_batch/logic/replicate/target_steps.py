"""The target side of a run: prepare the Snowflake table, COPY the staged parts, validate, and
clean up the staged files and work tables."""

from __future__ import annotations

import contextlib

from aurora_batch.errors import AuroraBatchError, TargetPrivilegeError
from aurora_batch.logic import load as sql
from aurora_batch.logic.observe import StreamObserver
from aurora_batch.logic.replicate.checkpoint import RunningQuery
from aurora_batch.logic.replicate.plan import TablePlan
from aurora_batch.logic.replicate.steps import NEW_SUFFIX, STAGING_SUFFIX, RunSteps
from aurora_batch.model import StagedPart, TargetTable, quote_sf, staged_key


class TargetSteps(RunSteps):
    def _prepare_target(self, target: TargetTable, *, create: bool) -> None:
        """Evolve an existing target to the source's shape (or refuse an incompatible change).
        A missing target is created only when `create`: after a successful extract, so a run that
        fails before loading leaves nothing behind in Snowflake."""
        if self._target_ready:
            return  # already created or evolved earlier in this invocation
        session = self._session_for_run()
        with self._phase("prepare"):
            existing = self._existing_columns(target)
            if existing is None:
                if create:
                    session.execute(sql.create_table_sql(target))
                    self.report.schema_changes.append("created")
                    self._target_ready = True
                return
            statements = sql.evolution_statements(target, existing)
            for statement in statements:
                session.execute(statement)
            self.report.schema_changes.extend(statements)
            self._target_ready = True

    def _drop_stale_work_tables(self, target: TargetTable, keep: set[str]) -> None:
        """Work tables left by a run that crashed are dropped before a new one starts."""
        session = self._session_for_run()
        rows = session.execute(
            # SQL from quote_sf identifiers, escaped literals (bandit B608)
            f"SELECT TABLE_NAME FROM {quote_sf(target.database)}.INFORMATION_SCHEMA.TABLES "  # noqa: S608  # nosec B608
            f"WHERE TABLE_SCHEMA = {sql.literal(target.schema)} "
            f"AND (STARTSWITH(TABLE_NAME, {sql.literal(target.name + STAGING_SUFFIX)}) "
            f"OR STARTSWITH(TABLE_NAME, {sql.literal(target.name + NEW_SUFFIX)}))"
        )
        for (name,) in rows:
            if name not in keep:
                session.execute(sql.drop_table_sql(target.sibling(name)))

    def _copy_parts(self, target: TargetTable, staging: str, parts: list[StagedPart]) -> RunningQuery | None:
        """COPY the parts into the staging table. Returns None once every part is loaded and checked,
        or the last COPY when the invocation's time ran low while it was still running (only the
        last: earlier COPYs, rare beyond 1000 files, are always waited for)."""
        with self._phase("copy"):
            for start in range(0, len(parts), sql.MAX_FILES_PER_COPY):
                chunk = parts[start : start + sql.MAX_FILES_PER_COPY]
                statement = sql.copy_into_sql(
                    staging,
                    self.settings.snowflake_stage,
                    [p.stage_path for p in chunk],
                    self.settings.staging_format,
                )
                running = self._start_long(statement, "copy", chunk)
                last = start + sql.MAX_FILES_PER_COPY >= len(parts)
                if not self._finish_copy(running, may_stop=last):
                    return running
        return None

    def _finish_copy(self, running: RunningQuery, *, may_stop: bool = True) -> bool:
        """Wait for a COPY and check its per-file results; False when the time ran low first."""
        outcome = self._wait_long(running, may_stop=may_stop)
        if outcome is None:
            return False
        results = sql.parse_copy_results(*outcome)
        loaded = sql.check_copy_results(list(running.parts), results, table=self.table, run_id=self.report.run_id)
        self.report.rows_loaded += loaded
        return True

    def _check_replaceable(self, target: TargetTable, strategy: str) -> None:
        """Before a full refresh replaces the target's rows: the loader role owns the target, and a
        swap would not leave a stream on it reading a dropped table."""
        session = self._session_for_run()
        if int(session.execute(sql.table_exists_sql(target))[0][0]) == 0:
            return
        names, rows = session.execute_with_columns(sql.show_grants_on_table_sql(target))
        grants = [dict(zip(names, row, strict=False)) for row in rows]
        owners = [str(g.get("grantee_name")) for g in grants if str(g.get("privilege", "")).upper() == "OWNERSHIP"]
        if not any(_true(session.execute(sql.role_in_session_sql(owner))[0][0]) for owner in owners):
            raise TargetPrivilegeError(
                f"the loader role lacks the OWNERSHIP privilege on table {target.database}.{target.schema}."
                f"{target.name} (owned by {', '.join(owners) or 'no role it can see'}), which a full refresh needs",
                table=f"{target.schema}.{target.name}",
                privilege="OWNERSHIP",
                owner=",".join(owners) or None,
                run_id=self.report.run_id,
            )
        if strategy != "swap":
            return  # INSERT OVERWRITE keeps the table object, and every stream on it
        qualified = f"{target.database}.{target.schema}.{target.name}"
        names, rows = session.execute_with_columns(sql.show_streams_sql(target))
        for stream in (dict(zip(names, row, strict=False)) for row in rows):
            if str(stream.get("table_name")) == qualified:
                name = f"{stream.get('database_name')}.{stream.get('schema_name')}.{stream.get('name')}"
                raise TargetPrivilegeError(
                    f"full_refresh_strategy swap would break stream {name} on {qualified}: "
                    "use full_refresh_strategy overwrite, or drop the stream",
                    table=f"{target.schema}.{target.name}",
                    stream=name,
                    run_id=self.report.run_id,
                )

    def _validate(self, table_sql: str, plan: TablePlan, observer: StreamObserver, where: str) -> None:
        session = self._session_for_run()
        specs = observer.specs
        with self._phase("validate"):
            row = session.execute(sql.aggregates_sql(table_sql, specs))[0]
            observed = sql.compare_aggregates(
                observer.expected(), row, specs, where=where, table=self.table, run_id=self.report.run_id
            )
        self.report.validation[where] = {k: str(v) for k, v in observed.items()}

    def _cleanup(self, run_path: str) -> None:
        """Delete the run's staged files, only once the target has committed every part of the run
        (a run continued over several invocations included). Failed runs keep their files."""
        if not self.settings.staging_cleanup:
            return
        with self._phase("cleanup"):
            listed = self.services.staging.list_objects(staged_key(self.settings.staging_prefix, f"{run_path}/"))
            keys = [o.key for o in listed]
            self.services.staging.delete_keys(keys[:1])
            self._crashpoint("cleanup")
            self.services.staging.delete_keys(keys[1:])

    def _discard_work_tables(self) -> None:
        """After a failure nothing half-loaded stays behind (staged files stay for the cleanup)."""
        if not self._work_tables or self._session is None:
            return
        for name in self._work_tables:
            with contextlib.suppress(AuroraBatchError):
                self._session.execute(sql.drop_table_sql(name))


def _true(value: object) -> bool:
    """A BOOLEAN result, whether the driver hands it over as a bool or as its text."""
    return value is True or str(value).strip().upper() == "TRUE"

"""The S3 cleanup Lambda, invoked with its scheduled events, against moto S3 and DynamoDB.

More than 1000 staged objects (so listing pages and deletion batches), spread over tables and
runs, with two runs still in progress according to the state table (one holds a live lease,
one left a checkpoint to resume from): their objects must survive every pass.

moto stamps every object with the real time, so the objects cannot be made old. The handler's
clock (`handler.now`) is moved forward instead, relative to the LastModified values S3 reports.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import boto3
import pytest
from aurora_batch.adapters.state_store import StateStore
from aurora_batch.errors import ConfigError
from botocore.config import Config

from tests.support.lambda_fakes import FakeLambdaContext, load_event, load_handler

# table -> (runs, objects per run): 1150 objects of old runs, so more than one deletion batch.
DEAD_RUNS = {"orders": (3, 250), "customers": (2, 200)}
LIVE_OBJECTS = 100  # under the run holding the lease
RESUMABLE_OBJECTS = 50  # under the run that left a checkpoint
OTHER_KEYS = ("manifest.json", "orders/stray.txt")  # not <schema>.<table>/<run_id>/<file>
MAP_RUN_FOLDERS = ("", "slice-0003/", "catch-up/", "manifests/")
PUT_THREADS = 16


@dataclass
class Seeded:
    prefix: str
    schema: str
    live_run: str
    resumable_run: str
    sizes: dict[str, dict[str, int]] = field(default_factory=dict)  # table -> key -> size

    def table(self, name: str) -> str:
        return f"{self.schema}.{name}"

    def bytes_of(self, table: str) -> int:
        return sum(self.sizes[table].values())


def s3_client(stack: Any) -> Any:
    config = Config(max_pool_connections=PUT_THREADS)
    return boto3.client("s3", endpoint_url=stack.moto_endpoint, region_name="us-east-1", config=config)


def state_store(stack: Any) -> StateStore:
    client = boto3.client("dynamodb", endpoint_url=stack.moto_endpoint, region_name="us-east-1")
    return StateStore(stack.state_table, client)


def listed(stack: Any, prefix: str) -> dict[str, datetime]:
    paginator = s3_client(stack).get_paginator("list_objects_v2")
    return {
        item["Key"]: item["LastModified"]
        for page in paginator.paginate(Bucket=stack.staging_bucket, Prefix=f"{prefix}/")
        for item in page.get("Contents", [])
    }


def pending_uploads(stack: Any, prefix: str) -> set[str]:
    answer = s3_client(stack).list_multipart_uploads(Bucket=stack.staging_bucket, Prefix=f"{prefix}/")
    return {upload["Key"] for upload in answer.get("Uploads", [])}


def put_objects(stack: Any, objects: dict[str, int]) -> None:
    client = s3_client(stack)

    def put(item: tuple[str, int]) -> None:
        client.put_object(Bucket=stack.staging_bucket, Key=item[0], Body=b"x" * item[1])

    with ThreadPoolExecutor(max_workers=PUT_THREADS) as pool:
        list(pool.map(put, objects.items()))


@pytest.fixture
def cleanup_env(stack_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> str:
    """The cleanup Lambda's environment: its own staging prefix, and no Vault or Snowflake
    settings at all (modules/aurora_batch/main.tf gives it none)."""
    prefix = f"cleanup-{secrets.token_hex(4)}"
    monkeypatch.setenv("STAGING_PREFIX", prefix)
    for name in ("VAULT_ADDR", "VAULT_TOKEN", "SNOWFLAKE_STAGE", "SNOWFLAKE_ENDPOINT"):
        monkeypatch.delenv(name)
    return prefix


@pytest.fixture
def seeded(stack: Any, cleanup_env: str) -> Iterator[Seeded]:
    seed = Seeded(cleanup_env, f"c{secrets.token_hex(4)}", "20260101T000000Z-11111111", "20260101T000000Z-22222222")
    objects: dict[str, int] = {}

    def add(table: str, run_id: str, count: int) -> None:
        # A run's files in every shape it stages: directly below the run, and, as a state-machine
        # run does, below a slice's folder, the catch-up's, and the slices' manifests.
        keys = {
            f"{seed.prefix}/{table}/{run_id}/{MAP_RUN_FOLDERS[index % 4]}part-{index:05d}.parquet": 10 + index % 17
            for index in range(count)
        }
        seed.sizes.setdefault(table, {}).update(keys)
        objects.update(keys)

    for name, (runs, per_run) in DEAD_RUNS.items():
        for run in range(runs):
            add(seed.table(name), f"20250101T00000{run}Z-dead{run:04d}", per_run)
    add(seed.table("live"), seed.live_run, LIVE_OBJECTS)
    add(seed.table("resumable"), seed.resumable_run, RESUMABLE_OBJECTS)
    others = {f"{seed.prefix}/{key}": 5 for key in OTHER_KEYS}
    seed.sizes["(other)"] = others
    objects.update(others)
    put_objects(stack, objects)

    store = state_store(stack)
    live_lease = store.acquire_lease(seed.table("live"), seed.live_run, 900)
    resumable_lease = store.acquire_lease(seed.table("resumable"), seed.resumable_run, 900)
    store.save_checkpoint(
        resumable_lease, {"mode": "full", "run_id": seed.resumable_run, "next_part": RESUMABLE_OBJECTS}
    )
    store.release_lease(resumable_lease)  # the invocation ended; the checkpoint stays for the next one
    try:
        yield seed
    finally:
        store.release_lease(live_lease)


def invoke(handler: Any, event: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = handler.lambda_handler(event, FakeLambdaContext(function_name="aurora-batch-s3-cleanup"))
    return result


def test_cleanup_spares_live_runs_supports_dry_run_and_is_idempotent(
    stack: Any, seeded: Seeded, monkeypatch: pytest.MonkeyPatch
) -> None:
    handler = load_handler("s3_cleanup")
    before = listed(stack, seeded.prefix)
    assert len(before) > 1000
    oldest, newest = min(before.values()), max(before.values())
    live_keys = {k for k in before if f"/{seeded.live_run}/" in k or f"/{seeded.resumable_run}/" in k}
    expected_deleted = {
        table: len(keys) for table, keys in seeded.sizes.items() if not table.endswith(("live", "resumable"))
    }

    # 1. Nothing is 24 hours old yet (the clock at the oldest object plus 24 hours): nothing goes.
    monkeypatch.setattr(handler, "now", lambda: oldest + timedelta(hours=24))
    young = invoke(handler, load_event("cleanup_scheduled.json"))
    assert young["objects_deleted"] == young["uploads_aborted"] == 0
    assert young["objects_kept_recent"] == len(before) - len(live_keys)
    assert young["objects_kept_live"] == len(live_keys)
    assert listed(stack, seeded.prefix) == before

    # Two multipart uploads never completed: one of a dead run, one of the live run. (moto reports
    # a fixed Initiated date in 2010, so here an upload is always old enough: only the sparing of
    # the live run's upload is tested, not the age of uploads.)
    for table, run_id in (
        (seeded.table("orders"), "20250101T000000Z-dead0000"),
        (seeded.table("live"), seeded.live_run),
    ):
        s3_client(stack).create_multipart_upload(
            Bucket=stack.staging_bucket, Key=f"{seeded.prefix}/{table}/{run_id}/slice-0003/part-09999.parquet"
        )

    # 2. A day later, the dry run reports what would go and deletes nothing.
    monkeypatch.setattr(handler, "now", lambda: newest + timedelta(hours=24, seconds=1))
    dry = invoke(handler, load_event("cleanup_dry_run.json"))
    assert dry["dry_run"] is True
    would_delete = {table: tally["objects_deleted"] for table, tally in dry["tables"].items()}
    assert {table: count for table, count in would_delete.items() if count} == expected_deleted
    assert dry["tables"][seeded.table("orders")]["bytes_deleted"] == seeded.bytes_of(seeded.table("orders"))
    assert dry["uploads_aborted"] == 1
    assert listed(stack, seeded.prefix) == before
    assert len(pending_uploads(stack, seeded.prefix)) == 2

    # 3. The real run deletes exactly that, in batches of 1000, and spares both runs in progress.
    done = invoke(handler, load_event("cleanup_scheduled.json"))
    assert done["dry_run"] is False
    assert {**done, "dry_run": True} == dry
    assert done["objects_deleted"] == sum(expected_deleted.values()) > 1000
    assert done["bytes_deleted"] == sum(seeded.bytes_of(table) for table in expected_deleted)
    for table in ("live", "resumable"):
        tally = done["tables"][seeded.table(table)]
        assert tally["objects_deleted"] == 0
        assert tally["objects_kept_live"] == len(seeded.sizes[seeded.table(table)])
    assert done["tables"][seeded.table("live")]["uploads_kept_live"] == 1
    assert done["runs_in_progress"][seeded.table("live")] == [seeded.live_run]
    assert done["runs_in_progress"][seeded.table("resumable")] == [seeded.resumable_run]
    assert set(listed(stack, seeded.prefix)) == live_keys
    assert pending_uploads(stack, seeded.prefix) == {
        f"{seeded.prefix}/{seeded.table('live')}/{seeded.live_run}/slice-0003/part-09999.parquet"
    }

    # 4. Idempotent: a second pass finds nothing more to delete.
    again = invoke(handler, load_event("cleanup_scheduled.json"))
    assert again["objects_deleted"] == again["bytes_deleted"] == again["uploads_aborted"] == 0
    assert again["objects_kept_live"] == len(live_keys)
    assert set(listed(stack, seeded.prefix)) == live_keys


def test_cleanup_of_one_table_leaves_the_others(stack: Any, cleanup_env: str) -> None:
    objects = {
        f"{cleanup_env}/public.{table}/20250101T000000Z-dead0000/part-0000{i}.parquet": 8
        for table in ("orders", "customers")
        for i in range(3)
    }
    put_objects(stack, objects)
    handler = load_handler("s3_cleanup")

    result = invoke(handler, load_event("cleanup_one_table.json"))

    assert result["tables"] == {
        "public.orders": {
            "objects_deleted": 3,
            "bytes_deleted": 24,
            "objects_kept_live": 0,
            "objects_kept_recent": 0,
            "uploads_aborted": 0,
            "uploads_kept_live": 0,
        }
    }
    assert set(listed(stack, cleanup_env)) == {k for k in objects if "/public.customers/" in k}


@pytest.mark.parametrize(
    ("event", "field", "shown"),
    [
        ({"older_than_hours": -1}, "older_than_hours", "-1"),
        ({"older_than_hours": "24"}, "older_than_hours", "'24'"),
        ({"dry_run": "yes"}, "dry_run", "'yes'"),
        ({"older_than_hours": 24, "dryrun": True}, "dryrun", "dryrun"),
        ({"table": "public."}, "table", "'public.'"),
    ],
)
def test_a_bad_event_is_refused_before_anything_is_listed(
    stack: Any, cleanup_env: str, event: dict[str, Any], field: str, shown: str
) -> None:
    key = f"{cleanup_env}/public.orders/20250101T000000Z-dead0000/part-00000.parquet"
    put_objects(stack, {key: 8})
    handler = load_handler("s3_cleanup")

    with pytest.raises(ConfigError) as raised:
        invoke(handler, event)

    assert raised.value.fields["field"] == field
    assert shown in str(raised.value)
    assert set(listed(stack, cleanup_env)) == {key}

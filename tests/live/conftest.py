"""Fixtures of the opt-in suite against a real Snowflake account (see tests/support/live_snowflake.py
for the variables). Each test works in a scratch schema it creates and drops; staged test files
live under their own prefix of the stage's location and are deleted afterwards."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Any

import pytest
from aurora_batch.adapters.state_store import make_dynamodb_client
from aurora_batch.config import settings_from_env
from aurora_batch.model import quote_sf
from aurora_batch.wiring import Runtime

from tests.support.live_snowflake import (
    STAGE_VARIABLE,
    LiveSnowflake,
    LiveStage,
    live_environment,
    skip_reason,
    stage_location,
)
from tests.support.vault_secrets import TestSecrets


@pytest.fixture(scope="session")
def live() -> LiveSnowflake:
    configured, missing = live_environment()
    if configured is None:
        pytest.skip(skip_reason(missing))
    return configured


@pytest.fixture
def live_schema(live: LiveSnowflake) -> Iterator[str]:
    """A scratch schema in the live database, dropped (with everything in it) after the test."""
    name = f"AURORA_BATCH_LIVE_{secrets.token_hex(4).upper()}"
    qualified = f"{quote_sf(live.database)}.{quote_sf(name)}"
    session = live.connect("PUBLIC", "aurora-batch:live-tests:setup")
    try:
        session.execute(f"CREATE SCHEMA {qualified} DATA_RETENTION_TIME_IN_DAYS = 0")
        yield name
    finally:
        session.execute(f"DROP SCHEMA IF EXISTS {qualified} CASCADE")
        session.close()


@pytest.fixture(scope="session")
def live_stage(live: LiveSnowflake) -> LiveStage:
    """The configured external S3 stage, with an S3 client from the default AWS credential chain."""
    if not live.stage:
        pytest.skip(f"no live stage: set {STAGE_VARIABLE} (DATABASE.SCHEMA.STAGE, an external S3 stage)")
    parts = live.stage.split(".")
    if len(parts) != 3:
        pytest.fail(f"{STAGE_VARIABLE} must be DATABASE.SCHEMA.STAGE, got {live.stage!r}")
    import boto3  # only the stage tests need AWS

    session = boto3.session.Session()
    if session.get_credentials() is None:
        pytest.skip("no AWS credentials in the default chain: the stage tests write to the stage's S3 location")
    database, schema, stage = parts
    snowflake = live.connect("PUBLIC", "aurora-batch:live-tests:stage")
    try:
        names, rows = snowflake.execute_with_columns(
            f"SHOW STAGES LIKE '{stage}' IN SCHEMA {quote_sf(database.upper())}.{quote_sf(schema.upper())}"
        )
    finally:
        snowflake.close()
    if not rows:
        pytest.fail(f"stage {live.stage} not found (or not visible to role {live.role})")
    location = stage_location(str(rows[0][names.index("url")]))
    if location is None:
        pytest.skip(f"stage {live.stage} is not on S3")
    bucket, prefix = location
    return LiveStage(live.stage, bucket, prefix, session.client("s3"))


@pytest.fixture
def live_runtime(stack: Any, live: LiveSnowflake, live_schema: str, live_stage: LiveStage) -> Iterator[Runtime]:
    """The product's runtime with the local stack's PostgreSQL, OpenBao and DynamoDB, and the
    real Snowflake account and S3 stage location."""
    vault = TestSecrets(stack)
    env = {k: v for k, v in stack.env().items() if k not in ("SNOWFLAKE_ENDPOINT", "AWS_ENDPOINT_URL")}
    env.update(
        VAULT_SECRET_PATH_SNOWFLAKE=vault.write("snowflake-live", live.credentials_secret(live_schema)),
        SNOWFLAKE_STAGE=live_stage.name,
        STAGING_BUCKET=live_stage.bucket,
        STAGING_PREFIX=live_stage.prefix,
    )
    if live.endpoint:
        env["SNOWFLAKE_ENDPOINT"] = live.endpoint
    settings = settings_from_env(env)
    try:
        yield Runtime(
            settings,
            s3_client=live_stage.s3_client,
            dynamodb_client=make_dynamodb_client(stack.moto_endpoint, settings.aws_region),
        )
    finally:
        vault.delete_all()

"""Shims for session parameters, stage files, grants, storage integrations and users' keys
(fakesnow 0.11.18 lacks them).

Registered into ``snowflake_shims.SHIMS`` on import (``snowflake_shims`` imports this module after
its own shims).
"""

from __future__ import annotations

import re

from fakesnow import statement_type
from fakesnow.copy_into import stage_url_from_var

from aurora_batch_dev.emulator_keypair import UserPublicKeys, parse_rsa_public_key
from aurora_batch_dev.errors import EmulatorStatementError
from aurora_batch_dev.snowflake_shims import (
    _IDENT,
    _STRING,
    ShimContext,
    ShimResult,
    identifier_parts,
    shim,
    string_literal_value,
)


@shim(
    emulates="ALTER SESSION SET QUERY_TAG = '<string>'",
    pattern=rf"ALTER\s+SESSION\s+SET\s+QUERY_TAG\s*=\s*(?P<tag>{_STRING})",
    examples=("ALTER SESSION SET QUERY_TAG = 'aurora-batch:public.customers:run-1'",),
)
def alter_session_set_query_tag(ctx: ShimContext, match: re.Match[str]) -> ShimResult:
    """Tag the session's following statements; the emulator records the tag in its query history."""
    ctx.session.query_tag = string_literal_value(match["tag"])
    return ShimResult.status(statement_type_id=statement_type.SCL)


@shim(
    emulates="ALTER SESSION UNSET QUERY_TAG",
    pattern=r"ALTER\s+SESSION\s+UNSET\s+QUERY_TAG",
    examples=("ALTER SESSION UNSET QUERY_TAG",),
)
def alter_session_unset_query_tag(ctx: ShimContext, match: re.Match[str]) -> ShimResult:
    """Clear the session's query tag."""
    ctx.session.query_tag = None
    return ShimResult.status(statement_type_id=statement_type.SCL)


@shim(
    emulates="REMOVE @<external_stage>[/<path>] [ PATTERN = '<regex_pattern>' ]",
    pattern=rf"(?:REMOVE|RM)\s+@(?P<location>[^\s']+)(?:\s+PATTERN\s*=\s*(?P<pattern>{_STRING}))?",
    examples=(
        "REMOVE @AURORA_BATCH_STAGE/public.customers/run-1/",
        "RM @ANALYTICS.PUBLIC.AURORA_BATCH_STAGE/public.orders/ PATTERN = '.*[.]parquet'",
    ),
)
def remove_stage_files(ctx: ShimContext, match: re.Match[str]) -> ShimResult:
    """Delete the files under an external stage's path; answers one (name, result) row per file.

    PATTERN is matched, as a whole, against each object's key in the bucket. Internal stages
    are not emulated.
    """
    stage_name, _, path = match["location"].partition("/")
    stage_url = stage_url_from_var(stage_name, ctx.duck, ctx.conn.database, ctx.conn.schema)
    if not stage_url.startswith("s3://") or ctx.stage_objects is None:
        raise EmulatorStatementError(
            f"emulator: REMOVE is emulated for external S3 stages only (@{stage_name})",
            errno=2,
            sqlstate="0A000",
        )
    pattern = re.compile(string_literal_value(match["pattern"])) if match["pattern"] else None
    prefix = stage_url if stage_url.endswith("/") or not path else stage_url + "/"
    removed = ctx.stage_objects.remove(prefix + path, pattern)
    return ShimResult(("name", "result"), [(url, "removed") for url in removed], statement_type.UNKNOWN)


@shim(
    emulates="GRANT <privileges> ... TO ... | REVOKE <privileges> ... FROM ...",
    pattern=r"(?:GRANT|REVOKE)\s+\S.*",
    examples=(
        "GRANT SELECT ON TABLE ANALYTICS.PUBLIC.CUSTOMERS TO ROLE REPORTING",
        "REVOKE SELECT ON TABLE CUSTOMERS FROM ROLE REPORTING",
    ),
)
def grant_or_revoke(ctx: ShimContext, match: re.Match[str]) -> ShimResult:
    """Accept access-control statements as no-ops: the emulator has one all-powerful role."""
    return ShimResult.status()


@shim(
    emulates="CREATE [ OR REPLACE ] STORAGE INTEGRATION [ IF NOT EXISTS ] <name> TYPE = EXTERNAL_STAGE ...",
    pattern=(
        rf"CREATE\s+(?:OR\s+REPLACE\s+)?STORAGE\s+INTEGRATION\s+(?:IF\s+NOT\s+EXISTS\s+)?"
        rf"(?P<name>{_IDENT})\s+.*"
    ),
    examples=(
        "CREATE STORAGE INTEGRATION IF NOT EXISTS AURORA_BATCH_S3 TYPE = EXTERNAL_STAGE "
        "STORAGE_PROVIDER = 'S3' ENABLED = TRUE "
        "STORAGE_AWS_ROLE_ARN = 'arn:aws:iam::123456789012:role/aurora-batch-snowflake' "
        "STORAGE_ALLOWED_LOCATIONS = ('s3://aurora-batch-staging/staging/')",
    ),
)
def create_storage_integration(ctx: ShimContext, match: re.Match[str]) -> ShimResult:
    """Accept a storage integration as a no-op: the emulator reads stages with its own S3 secret."""
    (name,) = identifier_parts(match["name"])
    return ShimResult.status(f"Integration {name} successfully created.")


def _user_keys(ctx: ShimContext) -> UserPublicKeys:
    if ctx.user_keys is None:
        raise EmulatorStatementError("emulator: this session has no user key registry", errno=2, sqlstate="0A000")
    return ctx.user_keys


@shim(
    emulates="ALTER USER [ IF EXISTS ] <name> SET RSA_PUBLIC_KEY | RSA_PUBLIC_KEY_2 = '<key>'",
    pattern=(
        rf"ALTER\s+USER\s+(?:IF\s+EXISTS\s+)?(?P<user>{_IDENT})\s+SET\s+"
        rf"(?P<slot>RSA_PUBLIC_KEY(?:_2)?)\s*=\s*(?P<key>{_STRING})"
    ),
    examples=(
        "ALTER USER AURORA_BATCH SET RSA_PUBLIC_KEY = 'MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA'",
        "ALTER USER IF EXISTS \"svc_loader\" SET RSA_PUBLIC_KEY_2='MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIB'",
    ),
)
def alter_user_set_rsa_public_key(ctx: ShimContext, match: re.Match[str]) -> ShimResult:
    """Register a public key for a user's key-pair logins, in one of its two key slots.

    Real Snowflake takes the base64 body of the PEM public key (no BEGIN/END lines) and keeps two
    slots so a key can be rotated. The emulator remembers the key for the login route, which then
    verifies that user's JWT logins against it. The emulator has no user catalog: any name is accepted.
    """
    (user,) = identifier_parts(match["user"])
    der = parse_rsa_public_key(string_literal_value(match["key"]))
    _user_keys(ctx).set(user, match["slot"].upper(), der)
    return ShimResult.status()


@shim(
    emulates="ALTER USER [ IF EXISTS ] <name> UNSET RSA_PUBLIC_KEY | RSA_PUBLIC_KEY_2",
    pattern=rf"ALTER\s+USER\s+(?:IF\s+EXISTS\s+)?(?P<user>{_IDENT})\s+UNSET\s+(?P<slot>RSA_PUBLIC_KEY(?:_2)?)",
    examples=(
        "ALTER USER AURORA_BATCH UNSET RSA_PUBLIC_KEY",
        "ALTER USER aurora_batch UNSET RSA_PUBLIC_KEY_2",
    ),
)
def alter_user_unset_rsa_public_key(ctx: ShimContext, match: re.Match[str]) -> ShimResult:
    """Remove a user's public key from one slot; key-pair logins signed with it then fail."""
    (user,) = identifier_parts(match["user"])
    _user_keys(ctx).unset(user, match["slot"].upper())
    return ShimResult.status()

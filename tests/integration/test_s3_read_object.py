"""S3Staging.read_object against the stack's moto S3: a small object's bytes back (a slice
manifest), a large one refused before its body is read (permanently: a retry reads the same
object), a missing one a retryable StagingError."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from aurora_batch.adapters.s3 import S3Staging
from aurora_batch.errors import PermanentError, RetryableError, StagedObjectTooLargeError, StagingError

BUCKET = "read-object"


@pytest.fixture
def staging(stack: Any, stack_env: dict[str, str]) -> Iterator[S3Staging]:
    client = boto3.client("s3", endpoint_url=stack.moto_endpoint, region_name="us-east-1")
    bucket = f"{BUCKET}-{secrets.token_hex(4)}"
    client.create_bucket(Bucket=bucket)
    staged = S3Staging(client, bucket)
    try:
        yield staged
    finally:
        staged.close()


def test_what_open_upload_wrote_reads_back(staging: S3Staging) -> None:
    body = b'{"slice": 3, "parts": [], "observed": {}}'
    sink = staging.open_upload("staging/public.orders/run/manifests/slice-0003.json")
    sink.write(body)
    assert sink.complete().result() == len(body)

    assert staging.read_object("staging/public.orders/run/manifests/slice-0003.json") == body


def test_an_object_of_exactly_the_limit_is_read(staging: S3Staging) -> None:
    staging.client.put_object(Bucket=staging.bucket, Key="k", Body=b"x" * 64)

    assert staging.read_object("k", max_bytes=64) == b"x" * 64


def test_an_object_larger_than_the_limit_is_refused_naming_it(staging: S3Staging) -> None:
    staging.client.put_object(Bucket=staging.bucket, Key="big", Body=b"x" * 65)

    with pytest.raises(StagedObjectTooLargeError) as refused:
        staging.read_object("big", max_bytes=64)

    assert isinstance(refused.value, PermanentError)
    assert refused.value.fields == {"bucket": staging.bucket, "key": "big", "size": 65, "limit": 64}
    assert "64 bytes" in refused.value.message


def test_a_body_longer_than_its_claimed_length_is_refused_after_one_byte_past_the_limit() -> None:
    read: list[int] = []

    class Body:
        def read(self, amount: int) -> bytes:
            read.append(amount)
            return b"x" * amount

        def close(self) -> None:
            return None

    class Client:
        def get_object(self, **_: Any) -> dict[str, Any]:
            return {"Body": Body(), "ContentLength": 10}

    staging = S3Staging(Client(), BUCKET)
    try:
        with pytest.raises(StagedObjectTooLargeError) as refused:
            staging.read_object("k", max_bytes=64)
    finally:
        staging.close()

    assert read == [65]
    assert refused.value.fields["limit"] == 64


def test_a_missing_object_is_a_staging_error(staging: S3Staging) -> None:
    with pytest.raises(StagingError) as failed:
        staging.read_object("nowhere.json")

    assert isinstance(failed.value, RetryableError)
    assert failed.value.fields == {"bucket": staging.bucket, "key": "nowhere.json"}
    assert isinstance(failed.value.__cause__, Exception)

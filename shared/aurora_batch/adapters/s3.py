"""S3 adapter (boto3): streaming multipart uploads of staged parts, listing, small reads and deletion.

The only module besides the other adapters that touches boto3's S3 client; the client
is injected so tests and the local stack can point it at moto.
"""

from __future__ import annotations

import contextlib
import io
import threading
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from botocore.exceptions import ClientError

from aurora_batch.errors import StagedObjectTooLargeError, StagingError
from aurora_batch.ports import PendingUpload, StagedObject

MIN_PART_BYTES = 8 << 20  # S3 requires >= 5 MiB for every part but the last
DELETE_BATCH = 1000  # DeleteObjects takes at most 1000 keys
# read_object reads small documents (slice manifests) into memory; a part is never read back.
MAX_READ_BYTES = 16 << 20


class MultipartUpload(io.RawIOBase):
    """A writable file whose bytes go to one S3 object through a multipart upload.

    Chunks of `chunk_bytes` are uploaded on a background pool while the writer keeps
    producing; at most `max_in_flight` chunks are held in memory at once.
    """

    def __init__(
        self,
        client: Any,
        bucket: str,
        key: str,
        pool: ThreadPoolExecutor,
        *,
        chunk_bytes: int = MIN_PART_BYTES,
        max_in_flight: int = 2,
        content_type: str = "application/octet-stream",
    ) -> None:
        super().__init__()
        self._client, self._bucket, self._key, self._pool = client, bucket, key, pool
        self._chunk_bytes = max(chunk_bytes, 5 << 20)
        self._buffer = bytearray()
        self._parts: list[Future[dict[str, Any]]] = []
        self._slots = threading.BoundedSemaphore(max_in_flight)
        self.bytes_written = 0
        try:
            created = client.create_multipart_upload(Bucket=bucket, Key=key, ContentType=content_type)
        except Exception as exc:
            raise StagingError("cannot start multipart upload", bucket=bucket, key=key) from exc
        self._upload_id: str = created["UploadId"]

    def writable(self) -> bool:
        return True

    def write(self, chunk: Any) -> int:
        view = memoryview(chunk).cast("B")
        self._buffer += view
        self.bytes_written += len(view)
        while len(self._buffer) >= self._chunk_bytes:
            with memoryview(self._buffer) as whole:
                body = bytes(whole[: self._chunk_bytes])  # one copy, not a slice and then a copy
            del self._buffer[: self._chunk_bytes]
            self._submit(body)
        return len(view)

    def _submit(self, body: bytes) -> None:
        number = len(self._parts) + 1
        self._slots.acquire()

        def upload() -> dict[str, Any]:
            try:
                answer = self._client.upload_part(
                    Bucket=self._bucket, Key=self._key, UploadId=self._upload_id, PartNumber=number, Body=body
                )
                return {"PartNumber": number, "ETag": answer["ETag"]}
            finally:
                self._slots.release()

        self._parts.append(self._pool.submit(upload))

    def complete(self) -> Future[int]:
        """Upload the tail and complete the object in the background; the future gives its size."""
        if self._buffer or not self._parts:
            self._submit(bytes(self._buffer))
            self._buffer.clear()
        parts = list(self._parts)
        size = self.bytes_written

        def finish() -> int:
            try:
                done = [p.result() for p in parts]
                self._client.complete_multipart_upload(
                    Bucket=self._bucket,
                    Key=self._key,
                    UploadId=self._upload_id,
                    MultipartUpload={"Parts": done},
                )
            except Exception as exc:
                self.abort()
                raise StagingError("multipart upload failed", bucket=self._bucket, key=self._key) from exc
            return size

        return self._pool.submit(finish)

    def abort(self) -> None:
        # Best effort: the bucket's lifecycle rule aborts stale uploads too.
        with contextlib.suppress(Exception):
            self._client.abort_multipart_upload(Bucket=self._bucket, Key=self._key, UploadId=self._upload_id)


class S3Staging:
    """Staged objects in one bucket."""

    def __init__(self, client: Any, bucket: str) -> None:
        self.client = client
        self.bucket = bucket
        # Completion runs beside extraction; two workers keep one part finishing while the next uploads.
        self.pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="s3-upload")

    def open_upload(self, key: str, *, chunk_bytes: int = MIN_PART_BYTES) -> MultipartUpload:
        return MultipartUpload(self.client, self.bucket, key, self.pool, chunk_bytes=chunk_bytes)

    def list_objects(self, prefix: str) -> Iterator[StagedObject]:
        paginator = self.client.get_paginator("list_objects_v2")
        try:
            for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
                for item in page.get("Contents", []):
                    yield StagedObject(item["Key"], int(item["Size"]), item["LastModified"])
        except Exception as exc:
            raise StagingError("cannot list staged objects", bucket=self.bucket, prefix=prefix) from exc

    def read_object(self, key: str, *, max_bytes: int = MAX_READ_BYTES) -> bytes:
        """The object's bytes; one larger than `max_bytes` is refused before its body is read."""
        try:
            answer = self.client.get_object(Bucket=self.bucket, Key=key)
            with contextlib.closing(answer["Body"]) as body:
                size = int(answer.get("ContentLength", 0))
                # At most one byte past the limit, whatever the length claimed.
                data: bytes = body.read(max_bytes + 1) if size <= max_bytes else b""
        except Exception as exc:
            raise StagingError("cannot read a staged object", bucket=self.bucket, key=key) from exc
        if size > max_bytes or len(data) > max_bytes:
            raise StagedObjectTooLargeError(
                f"the staged object is larger than the {max_bytes} bytes a read may take",
                bucket=self.bucket,
                key=key,
                size=max(size, len(data)),
                limit=max_bytes,
            )
        return data

    def delete_keys(self, keys: list[str]) -> int:
        """Delete in batches of 1000; returns how many were deleted."""
        deleted = 0
        for start in range(0, len(keys), DELETE_BATCH):
            batch = keys[start : start + DELETE_BATCH]
            try:
                answer = self.client.delete_objects(
                    Bucket=self.bucket, Delete={"Objects": [{"Key": k} for k in batch], "Quiet": True}
                )
            except Exception as exc:
                raise StagingError("cannot delete staged objects", bucket=self.bucket) from exc
            errors = answer.get("Errors", [])
            if errors:
                raise StagingError(
                    "some staged objects could not be deleted",
                    bucket=self.bucket,
                    first_key=errors[0].get("Key"),
                )
            deleted += len(batch)
        return deleted

    def list_pending_uploads(self, prefix: str) -> Iterator[PendingUpload]:
        paginator = self.client.get_paginator("list_multipart_uploads")
        try:
            for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
                for item in page.get("Uploads", []):
                    yield PendingUpload(item["Key"], item["UploadId"], item["Initiated"])
        except Exception as exc:
            raise StagingError("cannot list multipart uploads", bucket=self.bucket, prefix=prefix) from exc

    def abort_upload(self, upload: PendingUpload) -> None:
        """Abort one pending upload; one already gone counts as aborted."""
        try:
            self.client.abort_multipart_upload(Bucket=self.bucket, Key=upload.key, UploadId=upload.upload_id)
        except Exception as exc:
            if isinstance(exc, ClientError) and exc.response.get("Error", {}).get("Code") == "NoSuchUpload":
                return
            raise StagingError("cannot abort a multipart upload", bucket=self.bucket, key=upload.key) from exc

    def delete_prefix(self, prefix: str) -> int:
        return self.delete_keys([o.key for o in self.list_objects(prefix)])

    def close(self) -> None:
        self.pool.shutdown(wait=True)


def make_s3_client(endpoint_url: str | None = None, region: str | None = None) -> Any:
    import boto3

    return boto3.client("s3", endpoint_url=endpoint_url, region_name=region)

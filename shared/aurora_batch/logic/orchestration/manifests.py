"""Where a run's files go under its staging path, and the slices' manifests.

A slice's parts and observations grow with its parts and the table's columns, and Step Functions
limits a state's data to 256 KiB, so they travel through S3: extract_slice writes them as a small
JSON object, its manifest, and answers the Map with only the manifest's key and counts. The load
reads a manifest only at the key the run gives that slice (an event selects and triggers; it never
points the load at another object), then checks the parts it lists against the staged files."""

from __future__ import annotations

import json
from collections.abc import Sequence

from aurora_batch.config.events import SliceManifest, SliceResult, parse_event
from aurora_batch.errors import ConfigError
from aurora_batch.model import StagedPart, staged_key
from aurora_batch.ports import Staging

CATCH_UP = "catch-up"
# The slices' manifests: a folder of the run's path beside the slices', never a staged part.
MANIFESTS = "manifests"


def slice_path(index: int) -> str:
    return f"slice-{index:04d}"


def manifest_path(index: int) -> str:
    return f"{MANIFESTS}/{slice_path(index)}.json"


def write_manifest(staging: Staging, key: str, manifest: SliceManifest) -> None:
    sink = staging.open_upload(key)
    try:
        sink.write(manifest.model_dump_json().encode())
        sink.complete().result()
    except BaseException:
        sink.abort()
        raise


def slice_manifest(index: int, parts: Sequence[StagedPart], observed: dict[str, object]) -> SliceManifest:
    """A slice's manifest; more parts than a manifest may list are refused naming `parts`."""
    listed = [[p.index, p.key, p.stage_path, p.rows, p.bytes] for p in parts]
    return parse_event(SliceManifest, {"slice": index, "parts": listed, "observed": observed}, "manifest")


def claimed_parts(
    staging: Staging,
    staging_prefix: str,
    run_prefix: str,
    slice_count: int,
    results: Sequence[SliceResult],
    *,
    table: str,
) -> tuple[list[StagedPart], list[SliceManifest]]:
    """The parts the slices' manifests list, once every planned slice answered exactly once, each
    with its own manifest, and the parts are exactly the files staged under the run's prefix."""
    ordered = sorted(results, key=lambda r: r.slice)
    if [result.slice for result in ordered] != list(range(slice_count)):
        raise ConfigError("the slices loaded are not the run's planned slices", field="slices", table=table)
    run_path = staged_key(staging_prefix, f"{run_prefix}/")
    # Every key is checked before any object is read.
    for result in ordered:
        if result.manifest != f"{run_path}{manifest_path(result.slice)}":
            raise ConfigError(
                f"slice {result.slice}'s manifest is not the run's manifest of that slice",
                field="manifest",
                table=table,
                slice=result.slice,
            )
    manifests = [_read_manifest(staging, result, table) for result in ordered]
    parts = []
    for manifest in manifests:
        for index, key, stage_path, rows, size in manifest.parts:
            if not stage_path.startswith(f"{run_prefix}/{slice_path(manifest.slice)}/"):
                raise ConfigError("a part is outside its slice's path", field="slices", table=table)
            parts.append(StagedPart(index, key, stage_path, rows, size))
    # A retried load finds the catch-up's own files from the earlier try (the catch-up replaces
    # them); the manifests are no parts.
    skipped = (f"{run_path}{CATCH_UP}/", f"{run_path}{MANIFESTS}/")
    staged = {o.key for o in staging.list_objects(run_path) if not o.key.startswith(skipped)}
    if staged != {p.key for p in parts}:
        raise ConfigError(
            "the parts the slices claim are not the files staged for the run", field="slices", table=table
        )
    return parts, manifests


def _read_manifest(staging: Staging, result: SliceResult, table: str) -> SliceManifest:
    """The manifest at the result's (checked) key, which must agree with the result's counts."""
    try:
        document = json.loads(staging.read_object(result.manifest))
    except ValueError as exc:
        raise ConfigError(f"slice {result.slice}'s manifest is not JSON", field="manifest", table=table) from exc
    if not isinstance(document, dict):
        raise ConfigError(f"slice {result.slice}'s manifest is not an object", field="manifest", table=table)
    manifest = parse_event(SliceManifest, document, "manifest")
    rows = sum(part[3] for part in manifest.parts)
    if (manifest.slice, len(manifest.parts), rows) != (result.slice, result.parts, result.rows):
        raise ConfigError(
            f"slice {result.slice}'s manifest does not match the slice's answer",
            field="manifest",
            table=table,
            slice=result.slice,
        )
    return manifest

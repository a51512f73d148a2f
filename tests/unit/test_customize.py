"""The masking rules and the hook pipeline of aurora_batch.logic.customize, on in-memory batches.
(tests/integration/test_customization.py runs the same through the whole replication.)"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable, Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import get_args

import pyarrow as pa
import pytest
from aurora_batch.config import _RULE_OPTIONS, ColumnMask, MaskRule, settings_from_env, tables_for_event
from aurora_batch.errors import ConfigError, ExtractError, TransformHookError, ValueConversionError
from aurora_batch.logic.customize import (
    BatchPipeline,
    StreamHook,
    _hash,
    _keep_last,
    _redact,
    _truncate,
    load_hook,
)
from pydantic import ValidationError

SCHEMA = pa.schema([pa.field("ID", pa.int64())])


def _batches(count: int) -> Iterator[pa.RecordBatch]:
    for index in range(count):
        yield pa.RecordBatch.from_arrays([pa.array([index], pa.int64())], schema=SCHEMA)


def _pipeline(hook: StreamHook) -> BatchPipeline:
    return BatchPipeline((), (), SCHEMA, {}, hook, "example.hook", "public.t")


# --- rules ------------------------------------------------------------------------------------


@pytest.mark.parametrize("arrow_type", [pa.string(), pa.large_string()])
def test_mask_keeps_the_last_characters_and_nulls(arrow_type: pa.DataType) -> None:
    values = pa.array(["+1-555-0100", None, "ab", "", "héllo wörld"], arrow_type)

    assert _keep_last(4)(values).to_pylist() == ["*******0100", None, "ab", "", "*******örld"]
    assert _keep_last(0)(values).to_pylist() == ["*" * 11, None, "**", "", "*" * 11]


def test_mask_reads_numbers_as_text() -> None:
    assert _keep_last(2)(pa.array([123456, None], pa.int64())).to_pylist() == ["****56", None]


def test_hash_is_the_hmac_of_the_text_and_keeps_nulls() -> None:
    key = b"k" * 32
    hashed = _hash(key)(pa.array(["alice@example.org", None])).to_pylist()

    assert hashed == [hmac.new(key, b"alice@example.org", hashlib.sha256).hexdigest(), None]
    assert _hash(b"x" * 32)(pa.array(["alice@example.org"])).to_pylist()[0] != hashed[0]


@pytest.mark.parametrize(
    ("unit", "expected"),
    [("month", datetime(2024, 5, 1, tzinfo=UTC)), ("year", datetime(2024, 1, 1, tzinfo=UTC))],
)
def test_truncate_date_on_timestamps_and_dates(unit: str, expected: datetime) -> None:
    stamps = pa.array([datetime(2024, 5, 17, 13, 4, 5, tzinfo=UTC), None], pa.timestamp("us", tz="UTC"))
    days = pa.array([date(2024, 5, 17)], pa.date32())

    assert _truncate(unit)(stamps).to_pylist() == [expected, None]
    assert _truncate(unit)(days).to_pylist() == [expected.date()]


def test_redact_removes_nested_keys_and_keeps_every_other_value_exactly() -> None:
    text = (
        '{"a": 0.1000000000000000055, "big": 12345678901234567890123, "secret": 1, "é": "ü", '
        '"n": {"secret": [1], "b": [{"secret": 2, "c": 1e400}]}}'
    )
    redacted = _redact(("secret",))(pa.array([text, None, '[{"secret": 1}, 2.50]'], pa.large_string())).to_pylist()

    expected = '{"a": 0.1000000000000000055, "big": 12345678901234567890123, "é": "ü", "n": {"b": [{"c": 1e400}]}}'
    assert redacted[0] == expected
    assert redacted[1] is None
    assert redacted[2] == "[{}, 2.50]"
    assert json.loads(redacted[0])["n"] == {"b": [{"c": float("inf")}]}


@pytest.mark.parametrize(
    ("mask", "phrase"),
    [
        ({"rule": "hash", "keep_last": 4}, "takes no option keep_last"),
        ({"rule": "null", "keys": ["a"]}, "takes no option keys"),
        ({"rule": "mask", "keep_last": 2, "truncate_to": "year"}, "takes no option truncate_to"),
        ({"rule": "mask"}, "needs keep_last"),
        ({"rule": "mask", "keep_last": -1}, "greater than or equal to 0"),
        ({"rule": "truncate_date"}, "needs truncate_to"),
        ({"rule": "redact_json_keys", "keys": []}, "needs keys"),
    ],
)
def test_rule_options_are_checked(mask: dict[str, object], phrase: str) -> None:
    with pytest.raises(ValidationError, match=phrase):
        ColumnMask.model_validate(mask)


# --- hooks ------------------------------------------------------------------------------------


def test_the_hook_pulls_batches_one_at_a_time() -> None:
    pulled: list[int] = []

    def source() -> Iterator[pa.RecordBatch]:
        for batch in _batches(3):
            pulled.append(batch.column(0)[0].as_py())
            yield batch

    def hook(batches: Iterator[pa.RecordBatch]) -> Iterable[pa.RecordBatch]:
        yield from batches

    output = _pipeline(hook).apply(source())
    assert next(output).column(0)[0].as_py() == 0
    assert pulled == [0]  # nothing read ahead of the consumer
    assert [b.column(0)[0].as_py() for b in output] == [1, 2]


@pytest.mark.parametrize("upstream", [ValueConversionError("bad value", column="amount"), ExtractError("stream broke")])
def test_an_extract_error_passes_through_the_hook_as_itself(upstream: Exception) -> None:
    def source() -> Iterator[pa.RecordBatch]:
        yield from _batches(1)
        raise upstream

    def hook(batches: Iterator[pa.RecordBatch]) -> Iterable[pa.RecordBatch]:
        yield from batches

    with pytest.raises(type(upstream)) as raised:
        list(_pipeline(hook).apply(source()))
    assert raised.value is upstream


def test_an_extract_error_the_hook_turns_into_its_own_is_still_reported_as_the_extract_error() -> None:
    upstream = ExtractError("stream broke")

    def source() -> Iterator[pa.RecordBatch]:
        raise upstream
        yield  # pragma: no cover - makes this a generator

    def hook(batches: Iterator[pa.RecordBatch]) -> Iterable[pa.RecordBatch]:
        try:
            yield from batches
        except ExtractError as exc:
            raise RuntimeError("hook gave up") from exc

    with pytest.raises(ExtractError) as raised:
        list(_pipeline(hook).apply(source()))
    assert raised.value is upstream


def test_a_hook_failure_names_the_hook() -> None:
    def hook(batches: Iterator[pa.RecordBatch]) -> Iterable[pa.RecordBatch]:
        raise KeyError("city")

    with pytest.raises(TransformHookError) as raised:
        list(_pipeline(hook).apply(_batches(2)))
    assert raised.value.fields == {"hook": "example.hook", "table": "public.t"}
    assert "transform hook example.hook failed: KeyError" in str(raised.value)
    assert isinstance(raised.value.__cause__, KeyError)


def test_a_hook_must_yield_record_batches() -> None:
    def hook(batches: Iterator[pa.RecordBatch]) -> Iterable[pa.RecordBatch]:
        for batch in batches:
            yield pa.Table.from_batches([batch])

    with pytest.raises(TransformHookError, match="Table received"):
        list(_pipeline(hook).apply(_batches(1)))


def test_a_hook_module_that_fails_to_import_is_a_config_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "broken_hooks_for_test.py").write_text("raise RuntimeError('missing setting')\n")
    monkeypatch.syspath_prepend(str(tmp_path))

    with pytest.raises(ConfigError) as raised:
        load_hook("broken_hooks_for_test.run", {"broken_hooks_for_test.run": False})
    assert raised.value.fields == {"field": "transform", "hook": "broken_hooks_for_test.run"}
    assert "RuntimeError: missing setting" in str(raised.value)


def test_a_hook_is_found_by_colon_or_dot() -> None:
    registered = {"tests.support.hooks:pass_through": False, "tests.support.hooks.pass_through": False}
    assert load_hook("tests.support.hooks:pass_through", registered) is load_hook(
        "tests.support.hooks.pass_through", registered
    )


def test_every_masking_rule_declares_its_options() -> None:
    assert set(_RULE_OPTIONS) == set(get_args(MaskRule))


_BASE_ENV = {
    "VAULT_ADDR": "http://vault.invalid",
    "VAULT_TOKEN": "token-for-the-test",
    "STAGING_BUCKET": "bucket",
    "SNOWFLAKE_STAGE": "DB.S.STAGE",
    "STATE_TABLE": "state",
    "TABLES": json.dumps({"public.people": {"masking": {"email": {"rule": "hash"}}, "batch_size": 5}}),
}


@pytest.mark.parametrize(
    "event",
    [
        {"table_name": "people", "masking": {}},
        {"table_name": "people", "masking": None},
        {"tables": [{"table_name": "people", "masking": {"phone": {"rule": "null"}}}]},
        {"masking": {"phone": {"rule": "null"}}},
        {"table_name": "people", "masking": {"email": {"rule": "null"}}},
        {"table_name": "people", "masking": {"email": {"rule": "mask", "keep_last": 100000}}},
    ],
)
def test_masking_comes_from_configuration_only_an_event_never_touches_it(event: dict[str, object]) -> None:
    with pytest.raises(ConfigError) as refused:
        tables_for_event(settings_from_env(_BASE_ENV), event)
    assert refused.value.fields["field"] == "masking"

    (options,) = tables_for_event(settings_from_env(_BASE_ENV), {"table_name": "people"})
    assert options.masking == {"email": ColumnMask(rule="hash")}
    assert options.batch_size == 5  # the other configured options still apply

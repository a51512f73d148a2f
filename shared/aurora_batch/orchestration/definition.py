"""The state machine's definition (Amazon States Language), generated here and only here.

`python -m tools.render_state_machine` writes it as the template Terraform fills in
(modules/orchestration/templates/definition.asl.json.tftpl); a test keeps that file up to date.

For each table of the input (`{"tables": [{"schema_name": ..., "table_name": ...}]}`, as the
schedules send it): Plan -> a Distributed Map of extract_slice -> Load -> Commit; any failure after
Plan -> Release (records the failure, releases the lease). The execution fails when a table failed.
A slice's parts and observations travel as its manifest in S3, never in the state.
"""

from __future__ import annotations

import json
from typing import Any

FUNCTION_ARN = "${replication_function_arn}"
# Numbers in the template: written as these strings, then unquoted for Terraform's templatefile.
TABLE_CONCURRENCY = "${table_max_concurrency}"
SLICE_CONCURRENCY = "${slice_max_concurrency}"
LAMBDA_INVOKE = "arn:aws:states:::lambda:invoke"

# Errors of the Lambda service itself (throttling, a busy function): retried with backoff.
LAMBDA_SERVICE_ERRORS = [
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
]


def _retry() -> list[dict[str, Any]]:
    return [{"ErrorEquals": LAMBDA_SERVICE_ERRORS, "IntervalSeconds": 2, "MaxAttempts": 6, "BackoffRate": 2.0}]


def _invoke(payload: dict[str, Any], result_selector: dict[str, str], **fields: Any) -> dict[str, Any]:
    """A Task invoking the replication function with `payload` (JSONPath keys end in `.$`)."""
    parameters: dict[str, Any] = {"FunctionName": FUNCTION_ARN}
    if payload.get("Payload.$"):
        parameters["Payload.$"] = payload["Payload.$"]
    else:
        parameters["Payload"] = payload
    return {
        "Type": "Task",
        "Resource": LAMBDA_INVOKE,
        "Parameters": parameters,
        "ResultSelector": result_selector,
        "Retry": _retry(),
        **fields,
    }


def _catch(next_state: str) -> list[dict[str, Any]]:
    return [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": next_state}]


def _run_of(path: str = "$.plan") -> dict[str, str]:
    return {"table.$": f"{path}.table", "run_id.$": f"{path}.run_id"}


def table_states() -> dict[str, Any]:
    """One table's run: the states of the outer Map's iteration."""
    # A slice's parts and observations stay in its manifest in S3: the Map's results reach Load as
    # one state, at most 256 KiB, so each slice passes on only its manifest's key and its counts.
    extract_slice = _invoke(
        {"Payload.$": "$"},
        {
            "slice.$": "$.Payload.slice",
            "manifest.$": "$.Payload.manifest",
            "parts.$": "$.Payload.parts",
            "rows.$": "$.Payload.rows",
        },
        End=True,
    )
    return {
        "Plan": _invoke(
            {"action": "plan", "table.$": "$.table"},
            {
                "status.$": "$.Payload.status",
                "table.$": "$.Payload.table",
                "run_id.$": "$.Payload.run_id",
                "run_prefix.$": "$.Payload.run_prefix",
                "slices.$": "$.Payload.slices",
            },
            ResultPath="$.plan",
            Catch=[{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "PlanFailed"}],
            Next="Planned",
        ),
        "Planned": {
            "Type": "Choice",
            "Choices": [{"Variable": "$.plan.status", "StringEquals": "locked", "Next": "Locked"}],
            "Default": "ExtractSlices",
        },
        "Locked": {"Type": "Pass", "Parameters": {"status": "locked", "table.$": "$.table"}, "End": True},
        "PlanFailed": {"Type": "Pass", "Parameters": {"status": "failed", "table.$": "$.table"}, "End": True},
        "ExtractSlices": {
            "Type": "Map",
            "ItemsPath": "$.plan.slices",
            "ItemSelector": {
                "action": "extract_slice",
                "table.$": "$.plan.table",
                "run_id.$": "$.plan.run_id",
                "run_prefix.$": "$.plan.run_prefix",
                "slice.$": "$$.Map.Item.Value",
            },
            "MaxConcurrency": SLICE_CONCURRENCY,
            "ItemProcessor": {
                "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
                "StartAt": "ExtractSlice",
                "States": {"ExtractSlice": extract_slice},
            },
            "ResultPath": "$.slices",
            "Catch": _catch("Release"),
            "Next": "Load",
        },
        "Load": _invoke(
            {
                "action": "load",
                **_run_of(),
                "run_prefix.$": "$.plan.run_prefix",
                "slices.$": "$.slices",
            },
            {"status.$": "$.Payload.status"},
            ResultPath="$.load",
            Catch=_catch("Release"),
            Next="Commit",
        ),
        "Commit": _invoke(
            {"action": "commit", **_run_of()},
            {"status.$": "$.Payload.status", "table.$": "$.Payload.table", "run_id.$": "$.Payload.run_id"},
            ResultPath="$",
            Catch=_catch("Release"),
            End=True,
        ),
        "Release": _invoke(
            {
                "action": "release",
                **_run_of(),
                "error.$": "$.error",
            },
            {"status.$": "$.Payload.status"},
            ResultPath="$.release",
            Catch=[{"ErrorEquals": ["States.ALL"], "ResultPath": "$.release_error", "Next": "TableFailed"}],
            Next="TableFailed",
        ),
        "TableFailed": {
            "Type": "Pass",
            "Parameters": {"status": "failed", "table.$": "$.plan.table", "run_id.$": "$.plan.run_id"},
            "End": True,
        },
    }


def definition() -> dict[str, Any]:
    """The whole state machine, with the template's placeholders."""
    return {
        "Comment": "aurora-batch: plan, extract slices in parallel, load, validate and commit each table once",
        "StartAt": "Tables",
        "States": {
            "Tables": {
                "Type": "Map",
                "ItemsPath": "$.tables",
                "ItemSelector": {"table.$": "$$.Map.Item.Value"},
                "MaxConcurrency": TABLE_CONCURRENCY,
                "ItemProcessor": {
                    "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
                    "StartAt": "Plan",
                    "States": table_states(),
                },
                "ResultSelector": {"statuses.$": "$[*].status"},
                "ResultPath": "$.result",
                "Next": "CheckTables",
            },
            "CheckTables": {
                "Type": "Pass",
                "Parameters": {"failed.$": "States.ArrayContains($.result.statuses, 'failed')"},
                "ResultPath": "$.check",
                "Next": "AnyTableFailed",
            },
            "AnyTableFailed": {
                "Type": "Choice",
                "Choices": [{"Variable": "$.check.failed", "BooleanEquals": True, "Next": "TablesFailed"}],
                "Default": "Done",
            },
            "TablesFailed": {"Type": "Fail", "Error": "TablesFailed", "Cause": "at least one table's run failed"},
            "Done": {"Type": "Succeed"},
        },
    }


def render_template() -> str:
    """The definition as Terraform's templatefile reads it (the numbers unquoted)."""
    text = json.dumps(definition(), indent=2, sort_keys=True) + "\n"
    for placeholder in (TABLE_CONCURRENCY, SLICE_CONCURRENCY):
        text = text.replace(f'"{placeholder}"', placeholder)
    return text


def render(function_arn: str, *, table_concurrency: int, slice_concurrency: int) -> dict[str, Any]:
    """The definition filled in, as Terraform renders it (the validator and the tests read this)."""
    text = render_template()
    text = text.replace(FUNCTION_ARN, function_arn)
    text = text.replace(TABLE_CONCURRENCY, str(table_concurrency)).replace(SLICE_CONCURRENCY, str(slice_concurrency))
    parsed: dict[str, Any] = json.loads(text)
    return parsed

"""An interpreter for the part of Amazon States Language the state machine's definition uses: the
fake for what cannot run here.

moto 5.2.5 can interpret a definition (`mock_aws(config={"stepfunctions": {"execute_state_machine":
True}})`), but each `lambda:invoke` Task then calls moto's Lambda, which runs functions in Docker
containers (this machine has no Docker engine), and its docker-less backend answers every invoke
with a canned payload instead of running the function. So this module walks the generated
definition itself and calls the replication handler in-process for each Task, with the payload the
definition builds; everything the handler talks to stays real.

What it does as Step Functions does, for the constructs the definition uses:
- Task (`arn:aws:states:::lambda:invoke`): Parameters (`Payload` or `Payload.$`), the result
  `{"Payload": ..., "StatusCode": 200, ...}`, ResultSelector, ResultPath, Retry, Catch. A function
  error is the handler's exception type, its Cause the Lambda runtime's JSON error document.
- Map, inline or distributed: ItemsPath, ItemSelector (`$$.Map.Item.Value`/`Index`),
  ItemProcessor (or Iterator), ResultSelector, ResultPath, Catch. A failed item fails a
  distributed Map with States.ExceedToleratedFailureThreshold, an inline one with the item's error.
- Choice (StringEquals, BooleanEquals, NumericEquals, IsPresent, Not/And/Or), Pass (Parameters,
  Result, ResultPath), Succeed, Fail; the intrinsic States.ArrayContains.
- JSONPath `$`, `$.a.b`, `$.a[0]`, `$[*].b`, `$$...`; a path that selects nothing is States.Runtime.
- Every payload crosses a JSON boundary (as it does between services) and state data is limited
  to 256 KiB (States.DataLimitExceeded). States.ALL catches neither of these two errors.

Items run one after another (MaxConcurrency is honoured by never running two at once); a hook
called before each state lets a test act between states (writes between plan and slices, a
forged event, a broken table).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

LAMBDA_INVOKE = "arn:aws:states:::lambda:invoke"
MAX_STATE_BYTES = 256 * 1024
UNCATCHABLE = frozenset({"States.Runtime", "States.DataLimitExceeded"})
_SEGMENT = re.compile(r"\.([^.\[\]]+)|\[(\*|\d+)\]")
_INTRINSIC = re.compile(r"^(States\.\w+)\((.*)\)$", re.DOTALL)

# A Lambda function: (payload) -> response; raises for a function error.
Function = Callable[[dict[str, Any]], Any]
# Called before each state runs: (state name, the state's raw input).
Hook = Callable[[str, Any], None]


class StatesError(Exception):
    """An error inside the execution, with Step Functions' Error name and Cause."""

    def __init__(self, error: str, cause: str) -> None:
        super().__init__(f"{error}: {cause}")
        self.error, self.cause = error, cause


@dataclass
class Transition:
    """One state entered, as an execution's history would show it."""

    state: str
    input: Any
    output: Any = None
    error: str | None = None


@dataclass
class Execution:
    """The outcome of a whole execution."""

    status: str  # SUCCEEDED or FAILED
    output: Any = None
    error: str | None = None
    cause: str | None = None
    history: list[Transition] = field(default_factory=list)

    def entered(self, state: str) -> list[Transition]:
        return [t for t in self.history if t.state == state]


def json_path(document: Any, path: str, context: Mapping[str, Any] | None = None) -> Any:
    """The value a reference path selects (`$$` reads the context object); nothing: States.Runtime."""
    source: Any = document
    if path.startswith("$$"):
        source, path = context or {}, path[1:]
    if not path.startswith("$"):
        raise StatesError("States.Runtime", f"{path!r} is not a JSONPath")
    rest, values, wildcard = path[1:], [source], False
    while rest:
        match = _SEGMENT.match(rest)
        if match is None:
            raise StatesError("States.Runtime", f"unsupported JSONPath {path!r}")
        name, index = match.group(1), match.group(2)
        rest = rest[match.end() :]
        selected: list[Any] = []
        for value in values:
            if index == "*":
                wildcard = True
                if isinstance(value, list):
                    selected.extend(value)
                elif isinstance(value, dict):
                    selected.extend(value.values())
            elif index is not None:
                if isinstance(value, list) and int(index) < len(value):
                    selected.append(value[int(index)])
                elif not wildcard:
                    raise StatesError("States.Runtime", f"{path!r} selects nothing")
            elif isinstance(value, dict) and name in value:
                selected.append(value[name])
            elif not wildcard:
                raise StatesError("States.Runtime", f"the JSONPath {path!r} could not be found in the input")
        values = selected
    return values if wildcard else values[0]


def _intrinsic(expression: str, document: Any, context: Mapping[str, Any]) -> Any:
    match = _INTRINSIC.match(expression.strip())
    if match is None:
        return json_path(document, expression, context)
    name, raw_arguments = match.groups()
    arguments = [_argument(part.strip(), document, context) for part in _split_arguments(raw_arguments)]
    if name == "States.ArrayContains":
        array, wanted = arguments
        if not isinstance(array, list):
            raise StatesError("States.Runtime", "States.ArrayContains needs an array")
        return wanted in array
    raise StatesError("States.Runtime", f"intrinsic {name} is not interpreted here")


def _split_arguments(text: str) -> list[str]:
    parts, depth, quoted, current = [], 0, False, ""
    for char in text:
        if char == "'" and not current.endswith("\\"):
            quoted = not quoted
        if not quoted and char in "([":
            depth += 1
        if not quoted and char in ")]":
            depth -= 1
        if char == "," and not quoted and depth == 0:
            parts.append(current)
            current = ""
            continue
        current += char
    return [*parts, current] if current.strip() else parts


def _argument(text: str, document: Any, context: Mapping[str, Any]) -> Any:
    if text.startswith("'") and text.endswith("'"):
        return text[1:-1].replace("\\'", "'")
    if text.startswith("$") or text.startswith("States."):
        return _intrinsic(text, document, context)
    return json.loads(text)


def payload_template(template: Any, document: Any, context: Mapping[str, Any]) -> Any:
    """A Parameters / ItemSelector / ResultSelector template filled in (keys ending `.$` are paths)."""
    if isinstance(template, dict):
        filled: dict[str, Any] = {}
        for key, value in template.items():
            if key.endswith(".$"):
                filled[key[:-2]] = _intrinsic(value, document, context)
            else:
                filled[key] = payload_template(value, document, context)
        return filled
    if isinstance(template, list):
        return [payload_template(item, document, context) for item in template]
    return template


def _with_result(document: Any, result: Any, result_path: str | None) -> Any:
    """ResultPath: `$` replaces the input, `$.a.b` sets a field of (a copy of) it, null discards."""
    if result_path is None:
        return document
    if result_path == "$":
        return result
    if not isinstance(document, dict):
        raise StatesError("States.Runtime", f"ResultPath {result_path!r} needs an object input")
    names = result_path.removeprefix("$.").split(".")
    merged = json.loads(json.dumps(document))
    node = merged
    for name in names[:-1]:
        node = node.setdefault(name, {})
    node[names[-1]] = result
    return merged


def _across_services(value: Any, what: str) -> Any:
    """A JSON round trip under the state data limit, as every hand-over between services is."""
    try:
        text = json.dumps(value)
    except (TypeError, ValueError) as exc:
        raise StatesError("States.Runtime", f"{what} is not JSON: {exc}") from exc
    if len(text.encode()) > MAX_STATE_BYTES:
        raise StatesError("States.DataLimitExceeded", f"{what} is {len(text.encode())} bytes")
    return json.loads(text)


def _matches(error: str, names: list[str]) -> bool:
    return error in names or ("States.ALL" in names and error not in UNCATCHABLE)


class StateMachine:
    """Runs a definition; `functions` maps a Task's FunctionName to the function called in-process."""

    def __init__(self, definition: Mapping[str, Any], functions: Mapping[str, Function], hook: Hook | None = None):
        self.definition, self.functions, self.hook = definition, functions, hook
        self.history: list[Transition] = []

    def execute(self, execution_input: Any) -> Execution:
        self.history = []
        try:
            output = self._run(self.definition, _across_services(execution_input, "the execution's input"), {})
        except StatesError as failed:
            return Execution("FAILED", error=failed.error, cause=failed.cause, history=self.history)
        return Execution("SUCCEEDED", output=output, history=self.history)

    def _run(self, machine: Mapping[str, Any], document: Any, context: Mapping[str, Any]) -> Any:
        states: Mapping[str, Any] = machine["States"]
        name: str | None = machine["StartAt"]
        while name is not None:
            state = states[name]
            transition = Transition(name, document)
            self.history.append(transition)
            if self.hook is not None:
                self.hook(name, document)
            try:
                document, name = self._state(state, document, context)
            except StatesError as failed:
                transition.error = failed.error
                caught = next((c for c in state.get("Catch", []) if _matches(failed.error, c["ErrorEquals"])), None)
                if caught is None:
                    raise
                error_output = {"Error": failed.error, "Cause": failed.cause}
                document = _with_result(document, error_output, caught.get("ResultPath", "$"))
                name = caught["Next"]
            transition.output = document
            document = _across_services(document, f"the output of {transition.state}")
        return document

    def _state(self, state: Mapping[str, Any], document: Any, context: Mapping[str, Any]) -> tuple[Any, str | None]:
        kind = state["Type"]
        following = None if state.get("End") else state.get("Next")
        if kind == "Succeed":
            return document, None
        if kind == "Fail":
            raise StatesError(state.get("Error", "States.Fail"), state.get("Cause", ""))
        if kind == "Choice":
            for rule in state["Choices"]:
                if _choice(rule, document):
                    return document, rule["Next"]
            if "Default" not in state:
                raise StatesError("States.NoChoiceMatched", "no choice matched and there is no Default")
            return document, state["Default"]
        effective = json_path(document, state.get("InputPath", "$"), context)
        if kind == "Pass":
            if "Parameters" in state:
                result = payload_template(state["Parameters"], effective, context)
            else:
                result = state.get("Result", effective)
        elif kind == "Task":
            result = self._retrying(state, lambda: self._task(state, effective, context))
        elif kind == "Map":
            result = self._retrying(state, lambda: self._map(state, effective, context))
        else:
            raise StatesError("States.Runtime", f"state type {kind} is not interpreted here")
        if "ResultSelector" in state:
            result = payload_template(state["ResultSelector"], result, context)
        output = _with_result(document, result, state.get("ResultPath", "$"))
        return json_path(output, state.get("OutputPath", "$"), context), following

    def _retrying(self, state: Mapping[str, Any], attempt: Callable[[], Any]) -> Any:
        """Retry as the state's Retry says (the intervals are not waited here)."""
        attempts: dict[int, int] = {}
        while True:
            try:
                return attempt()
            except StatesError as failed:
                rules = state.get("Retry", [])
                index = next((i for i, r in enumerate(rules) if _matches(failed.error, r["ErrorEquals"])), None)
                if index is None or attempts.get(index, 0) >= rules[index].get("MaxAttempts", 3):
                    raise
                attempts[index] = attempts.get(index, 0) + 1

    def _task(self, state: Mapping[str, Any], effective: Any, context: Mapping[str, Any]) -> Any:
        if state["Resource"] != LAMBDA_INVOKE:
            raise StatesError("States.Runtime", f"resource {state['Resource']} is not interpreted here")
        parameters = payload_template(state["Parameters"], effective, context)
        function = self.functions.get(parameters["FunctionName"])
        if function is None:
            raise StatesError("Lambda.ResourceNotFoundException", f"no function {parameters['FunctionName']}")
        payload = _across_services(parameters.get("Payload", {}), "the invocation's payload")
        try:
            response = function(payload)
        except Exception as exc:  # a function error, as the Lambda runtime reports it
            kind = type(exc).__name__
            cause = json.dumps({"errorMessage": str(exc), "errorType": kind, "requestId": "", "stackTrace": []})
            raise StatesError(kind, cause) from exc
        return {
            "ExecutedVersion": "$LATEST",
            "Payload": _across_services(response, "the function's response"),
            "StatusCode": 200,
        }

    def _map(self, state: Mapping[str, Any], effective: Any, context: Mapping[str, Any]) -> list[Any]:
        items = json_path(effective, state.get("ItemsPath", "$"), context)
        if not isinstance(items, list):
            raise StatesError("States.Runtime", "the Map's ItemsPath does not select an array")
        processor = state.get("ItemProcessor") or state["Iterator"]
        distributed = processor.get("ProcessorConfig", {}).get("Mode") == "DISTRIBUTED"
        results = []
        for index, item in enumerate(items):
            item_context = {**context, "Map": {"Item": {"Index": index, "Value": item}}}
            selector = state.get("ItemSelector") or state.get("Parameters")
            item_input = payload_template(selector, effective, item_context) if selector else item
            try:
                results.append(self._run(processor, _across_services(item_input, "a Map item"), item_context))
            except StatesError as failed:
                if distributed and failed.error not in UNCATCHABLE:
                    raise StatesError(
                        "States.ExceedToleratedFailureThreshold",
                        f"the Map's failures exceed its tolerated threshold: item {index} failed with {failed.error}",
                    ) from failed
                raise
        return results


def _choice(rule: Mapping[str, Any], document: Any) -> bool:
    if "And" in rule:
        return all(_choice(r, document) for r in rule["And"])
    if "Or" in rule:
        return any(_choice(r, document) for r in rule["Or"])
    if "Not" in rule:
        return not _choice(rule["Not"], document)
    variable = rule["Variable"]
    try:
        value = json_path(document, variable)
    except StatesError:
        if "IsPresent" in rule:
            return not rule["IsPresent"]
        raise
    if "IsPresent" in rule:
        return bool(rule["IsPresent"])
    for operator, kind in (("StringEquals", str), ("BooleanEquals", bool), ("NumericEquals", (int, float))):
        if operator in rule:
            return isinstance(value, kind) and value == rule[operator]
    raise StatesError("States.Runtime", f"choice rule {sorted(rule)} is not interpreted here")

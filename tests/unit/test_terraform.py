"""Checks of modules/, environments/ and examples/ that need no terraform binary.

Every file is parsed with python-hcl2; the module contracts (inputs, required inputs,
outputs), the house structure and the application contracts (state table key schema,
Lambda environment, handler) are checked from the parsed files. CI runs the real
`terraform fmt/validate/test` and tflint (.github/workflows/terraform.yml).
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import Any, get_args

import hcl2
import pytest
import yaml
from aurora_batch import observability, state_schema
from aurora_batch.config import _RULE_OPTIONS, ColumnMask, MaskRule, TableOptions
from aurora_batch.model import Mode

ROOT = Path(__file__).resolve().parents[2]
MODULES_DIR = ROOT / "modules"
ENVIRONMENTS_DIR = ROOT / "environments"
EXAMPLES_DIR = ROOT / "examples"
COMPOSITION_DIR = MODULES_DIR / "aurora_batch"
WORKFLOW = ROOT / ".github" / "workflows" / "terraform.yml"

MODULES = sorted(path.name for path in MODULES_DIR.iterdir() if path.is_dir())
ENVIRONMENTS = sorted(path.name for path in ENVIRONMENTS_DIR.iterdir() if path.is_dir())
EXAMPLES = sorted(path.name for path in EXAMPLES_DIR.iterdir() if path.is_dir())
# A composition calls the other modules and owns no resource of its own.
COMPOSITIONS = {"aurora_batch"}
CONFIG_DIRS = (
    [MODULES_DIR / name for name in MODULES]
    + [ENVIRONMENTS_DIR / name for name in ENVIRONMENTS]
    + [EXAMPLES_DIR / name for name in EXAMPLES]
)
HCL_FILES = sorted(
    [
        *ROOT.glob("modules/**/*.tf"),
        *ROOT.glob("modules/*/tests/*.tftest.hcl"),
        *ROOT.glob("environments/*/*.tf"),
        *ROOT.glob("examples/*/*.tf"),
        ROOT / ".tflint.hcl",
    ]
)

MODULE_META_ARGUMENTS = {"source", "version", "count", "for_each", "providers", "depends_on"}
SNAKE_CASE = re.compile(r"^[a-z][a-z0-9_]*$")
# Variables whose values form a closed set: each needs a validation block. An
# environment validates what it uses itself; what it passes on, the module validates.
CLOSED_SET_VARIABLES = {
    "modules": {
        "architecture",
        "log_retention_in_days",
        "maximum_retry_attempts",
        "runtime",
        "staging_format",
        "tracing_mode",
        "untrusted_artifact_on_deployment",
    },
    "environments": {"lambda_architecture", "log_level", "replication_mode", "staging_format"},
    "examples": set(),
}
# The same closed sets, as attributes of the composition's settings.
CLOSED_SET_SETTINGS = {"lambda_architecture", "log_level", "replication_mode", "staging_format"}
# The environment the application reads (docs/CONFIGURATION.md); the replication
# function gets all of them.
LAMBDA_ENVIRONMENT_CONTRACT = {
    "VAULT_ADDR",
    "VAULT_ROLE",
    "VAULT_AUTH_MOUNT",
    "VAULT_SECRET_PATH_AURORA",
    "VAULT_SECRET_PATH_SNOWFLAKE",
    "SNOWFLAKE_ENDPOINT",
    "REPLICATION_MODE",
    "INCREMENTAL_COLUMN",
    "BATCH_SIZE",
    "SCHEMA_NAME",
    "TABLE_NAME",
    "STAGING_BUCKET",
    "STAGING_PREFIX",
    "STAGING_FORMAT",
    "SNOWFLAKE_STAGE",
    "STATE_TABLE",
    "TABLES_SOURCE",
    "TABLES_PARAMETER",
    "LOG_LEVEL",
    "POWERTOOLS_SERVICE_NAME",
    "POWERTOOLS_METRICS_NAMESPACE",
}


@cache
def parse(path: Path) -> dict[str, Any]:
    options = hcl2.SerializationOptions(strip_string_quotes=True, explicit_blocks=False, with_comments=False)
    parsed: dict[str, Any] = hcl2.loads(path.read_text(), serialization_options=options)
    return parsed


def blocks(directory: Path, kind: str) -> dict[str, Any]:
    """Every labelled block of one kind (variable, output, module, ...) in a directory's .tf files."""
    found: dict[str, Any] = {}
    for path in sorted(directory.glob("*.tf")):
        for block in parse(path).get(kind, []):
            found.update(block)
    return found


def typed_blocks(directory: Path, kind: str) -> dict[tuple[str, str], Any]:
    """Resources or data sources, keyed (type, name)."""
    found: dict[tuple[str, str], Any] = {}
    for path in sorted(directory.glob("*.tf")):
        for block in parse(path).get(kind, []):
            for type_name, named in block.items():
                for name, body in named.items():
                    found[(type_name, name)] = body
    return found


def locals_of(directory: Path) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for path in sorted(directory.glob("*.tf")):
        for block in parse(path).get("locals", []):
            found.update(block)
    return found


def terraform_blocks(directory: Path) -> list[dict[str, Any]]:
    return [block for path in sorted(directory.glob("*.tf")) for block in parse(path).get("terraform", [])]


def source_text(directory: Path) -> str:
    return "\n".join(path.read_text() for path in sorted(directory.glob("*.tf")))


def settings_attributes() -> dict[str, str]:
    """Attribute name -> type of the composition's settings object."""
    return object_attributes(blocks(COMPOSITION_DIR, "variable")["settings"]["type"])


def environment_settings(environment: str) -> dict[str, Any]:
    settings: dict[str, Any] = yaml.safe_load((ENVIRONMENTS_DIR / environment / "settings.yaml").read_text())
    return settings


def profiles() -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = locals_of(COMPOSITION_DIR)["profiles"]
    return found


def module_calls() -> list[tuple[Path, str, dict[str, Any], Path]]:
    """(calling directory, call name, arguments, called module directory) for every local module call."""
    calls = []
    for directory in CONFIG_DIRS:
        for name, arguments in blocks(directory, "module").items():
            calls.append((directory, name, arguments, (directory / arguments["source"]).resolve()))
    return calls


def test_config_is_found() -> None:
    assert len(MODULES) >= 9
    assert ENVIRONMENTS == ["dev", "prod", "staging"]
    assert "minimal" in EXAMPLES
    assert set(MODULES) >= COMPOSITIONS
    assert len(HCL_FILES) > 50


@pytest.mark.parametrize("path", HCL_FILES, ids=lambda path: str(path.relative_to(ROOT)))
def test_every_file_parses(path: Path) -> None:
    assert parse(path), f"{path} is empty"


@pytest.mark.parametrize("module", MODULES)
def test_module_has_the_standard_files(module: str) -> None:
    directory = MODULES_DIR / module
    for name in ("main.tf", "variables.tf", "outputs.tf", "versions.tf", "README.md"):
        assert (directory / name).is_file(), f"modules/{module} lacks {name}"
    assert (directory / "tests" / f"{module}.tftest.hcl").is_file(), f"modules/{module} lacks its terraform test"


@pytest.mark.parametrize("module", MODULES)
def test_module_declares_no_provider_or_backend(module: str) -> None:
    directory = MODULES_DIR / module
    assert blocks(directory, "provider") == {}, f"modules/{module} configures a provider"
    for block in terraform_blocks(directory):
        assert set(block) <= {"required_version", "required_providers"}, f"modules/{module}: {sorted(block)}"
    versions = parse(directory / "versions.tf")["terraform"][0]
    assert versions["required_version"]
    for provider in versions["required_providers"][0].values():
        assert provider["source"], f"modules/{module}: provider without source {provider}"
        assert provider["version"], f"modules/{module}: unpinned provider {provider}"


@pytest.mark.parametrize("module", MODULES)
def test_module_main_resource_is_named_this(module: str) -> None:
    names = {name for _, name in typed_blocks(MODULES_DIR / module, "resource")}
    if module in COMPOSITIONS:
        assert names == set(), f"modules/{module} is a composition; its resources belong in a module"
        assert blocks(MODULES_DIR / module, "module"), f"modules/{module} composes no module"
        return
    assert "this" in names, f"modules/{module} has no resource named this"


@pytest.mark.parametrize("directory", CONFIG_DIRS, ids=lambda path: str(path.relative_to(ROOT)))
def test_variables_have_type_and_description(directory: Path) -> None:
    for name, body in blocks(directory, "variable").items():
        assert body.get("type"), f"{directory.name}: variable {name} has no type"
        assert str(body.get("description", "")).strip(), f"{directory.name}: variable {name} has no description"
        assert "any" not in re.findall(r"\b\w+\b", str(body["type"])), f"{directory.name}: {name} is typed any"


@pytest.mark.parametrize("directory", CONFIG_DIRS, ids=lambda path: str(path.relative_to(ROOT)))
def test_closed_set_variables_are_validated(directory: Path) -> None:
    closed = CLOSED_SET_VARIABLES[directory.parent.name]
    variables = blocks(directory, "variable")
    for name, body in variables.items():
        if name in closed:
            assert body.get("validation"), f"{directory.name}: variable {name} takes a closed set but has no validation"


@pytest.mark.parametrize("directory", CONFIG_DIRS, ids=lambda path: str(path.relative_to(ROOT)))
def test_outputs_have_descriptions(directory: Path) -> None:
    outputs = blocks(directory, "output")
    assert outputs, f"{directory.name} has no outputs"
    for name, body in outputs.items():
        assert str(body.get("description", "")).strip(), f"{directory.name}: output {name} has no description"


@pytest.mark.parametrize("directory", CONFIG_DIRS, ids=lambda path: str(path.relative_to(ROOT)))
def test_names_are_snake_case(directory: Path) -> None:
    names = [
        *blocks(directory, "variable"),
        *blocks(directory, "output"),
        *blocks(directory, "module"),
        *locals_of(directory),
        *(name for _, name in typed_blocks(directory, "resource")),
        *(name for _, name in typed_blocks(directory, "data")),
    ]
    assert names
    for name in names:
        assert SNAKE_CASE.match(name), f"{directory.name}: {name} is not snake_case"


@pytest.mark.parametrize("directory", CONFIG_DIRS, ids=lambda path: str(path.relative_to(ROOT)))
def test_declarations_are_used(directory: Path) -> None:
    """What tflint's terraform_unused_declarations checks in CI."""
    text = source_text(directory)
    for name in blocks(directory, "variable"):
        assert re.search(rf"\bvar\.{name}\b", text), f"{directory.name}: variable {name} is never used"
    for name in locals_of(directory):
        assert re.search(rf"\blocal\.{name}\b", text), f"{directory.name}: local {name} is never used"
    for type_name, name in typed_blocks(directory, "data"):
        assert re.search(rf"\bdata\.{type_name}\.{name}\b", text), f"{directory.name}: data {type_name}.{name} unused"


def test_module_calls_are_local_and_known() -> None:
    calls = module_calls()
    assert calls
    for directory, name, _, called in calls:
        assert called.parent == MODULES_DIR, f"{directory.name}: module {name} is not under modules/"
        assert called.name in MODULES, f"{directory.name}: module {name} calls unknown {called}"


def test_module_inputs_exist_in_the_module() -> None:
    for directory, name, arguments, called in module_calls():
        declared = set(blocks(called, "variable"))
        unknown = set(arguments) - MODULE_META_ARGUMENTS - declared
        assert not unknown, f"{directory.name}: module {name} passes undeclared inputs {sorted(unknown)}"


def test_required_module_inputs_are_given() -> None:
    for directory, name, arguments, called in module_calls():
        required = {var for var, body in blocks(called, "variable").items() if "default" not in body}
        missing = required - set(arguments)
        assert not missing, f"{directory.name}: module {name} misses required inputs {sorted(missing)}"


def test_referenced_module_outputs_exist() -> None:
    reference = re.compile(r"\bmodule\.([a-z_][a-z0-9_]*)(?:\[[^\]]*\])?\.([a-z_][a-z0-9_]*)")
    moved_block = re.compile(r"^moved \{.*?^\}", re.DOTALL | re.MULTILINE)
    checked = 0
    for directory in CONFIG_DIRS:
        calls = blocks(directory, "module")
        # moved blocks name addresses, not outputs (test_state_moves_lead_into_the_composition).
        for call, output in reference.findall(moved_block.sub("", source_text(directory))):
            assert call in calls, f"{directory.name}: module.{call} is not declared"
            called = (directory / calls[call]["source"]).resolve()
            assert output in blocks(called, "output"), f"{directory.name}: module.{call}.{output} does not exist"
            checked += 1
    assert checked > 30


def test_every_module_is_used_by_every_environment() -> None:
    # snowflake_stage is composed in the Snowflake workspace: its provider connects on
    # every plan, which would make each AWS plan need Snowflake credentials.
    aws_modules = set(MODULES) - {"snowflake_stage"} - COMPOSITIONS
    used = {called.name for directory, _, _, called in module_calls() if directory == COMPOSITION_DIR}
    assert used == aws_modules, f"the composition wires {sorted(used ^ aws_modules)} unexpectedly"
    for directory in [ENVIRONMENTS_DIR / name for name in ENVIRONMENTS] + [EXAMPLES_DIR / name for name in EXAMPLES]:
        called = {called for caller, _, _, called in module_calls() if caller == directory}
        assert called == {COMPOSITION_DIR}, f"{directory.relative_to(ROOT)} calls {sorted(map(str, called))}"


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_environment_has_cloud_workspace_and_providers(environment: str) -> None:
    directory = ENVIRONMENTS_DIR / environment
    # A thin root: what Terraform needs per workspace, and the site's settings.
    files = {path.name for path in directory.iterdir()}
    assert files == {"main.tf", "moved.tf", "outputs.tf", "versions.tf", "providers.tf", "settings.yaml"}, sorted(files)
    # One list of state moves for every root, linked rather than copied.
    assert (directory / "moved.tf").is_symlink()
    assert (directory / "moved.tf").resolve() == (ENVIRONMENTS_DIR / "moved.tf").resolve()
    terraform = parse(directory / "versions.tf")["terraform"][0]
    cloud = terraform["cloud"][0]
    assert cloud["organization"]
    assert cloud["workspaces"][0]["name"] == f"aurora-batch-{environment}"
    assert "backend" not in terraform
    assert set(blocks(directory, "provider")) == set(terraform["required_providers"][0]) == {"aws"}
    call = blocks(directory, "module")["aurora_batch"]
    assert call["environment"] == environment
    assert "settings.yaml" in call["settings"]
    assert f'Environment = "{environment}"' in (directory / "providers.tf").read_text()


def test_environment_names_are_the_profiles() -> None:
    assert sorted(profiles()) == ENVIRONMENTS
    condition = blocks(COMPOSITION_DIR, "variable")["environment"]["validation"][0]["condition"]
    closed = re.search(r"contains\(\[([^\]]*)\]", condition)
    assert closed, condition
    assert sorted(value.strip().strip('"') for value in closed.group(1).split(",")) == ENVIRONMENTS


def test_closed_set_settings_are_validated() -> None:
    attributes = settings_attributes()
    conditions = [str(item["condition"]) for item in blocks(COMPOSITION_DIR, "variable")["settings"]["validation"]]
    for name in CLOSED_SET_SETTINGS:
        assert name in attributes, f"settings lacks {name}"
        assert any(f"var.settings.{name}" in condition and "contains(" in condition for condition in conditions), (
            f"settings.{name} takes a closed set but has no validation"
        )


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_settings_name_declared_attributes(environment: str) -> None:
    settings = environment_settings(environment)
    attributes = settings_attributes()
    assert set(settings) <= set(attributes), sorted(set(settings) - set(attributes))
    required = {name for name, attribute_type in attributes.items() if not attribute_type.startswith("optional(")}
    assert required <= set(settings), f"settings.yaml misses {sorted(required - set(settings))}"


def test_environments_set_their_own_sizes_schedules_and_thresholds() -> None:
    for name in (
        "lambda_memory_size",
        "lambda_timeout",
        "replication_reserved_concurrency",
        "schedule_expression",
        "staleness_threshold_seconds",
    ):
        defaults = [profiles()[environment][name] for environment in ENVIRONMENTS]
        assert len(set(defaults)) == len(ENVIRONMENTS), f"{name} is the same in every environment: {defaults}"
    # What a site may override is a setting; the security switches are not.
    attributes = settings_attributes()
    for name in set(profiles()["prod"]) - {"access_logging_enabled", "code_signing_policy"}:
        assert attributes[name].startswith("optional("), f"settings.{name} must be an optional override"
    assert "code_signing_policy" not in attributes
    assert "access_logging_enabled" not in attributes


def test_no_variable_carries_a_secret() -> None:
    secret = re.compile(r"password|token|secret_key|private_key|access_key", re.IGNORECASE)
    for directory in CONFIG_DIRS:
        for name in blocks(directory, "variable"):
            assert not secret.search(name), (
                f"{directory.name}: variable {name} looks like a secret; Vault holds secrets"
            )


def test_replication_environment_covers_the_application_contract() -> None:
    for directory in [COMPOSITION_DIR]:
        text = (directory / "main.tf").read_text()
        names = set(re.findall(r"\b([A-Z][A-Z0-9_]+)\s*=", text))
        assert names >= LAMBDA_ENVIRONMENT_CONTRACT, sorted(LAMBDA_ENVIRONMENT_CONTRACT - names)
        assert "VAULT_TOKEN" not in text
        # Alarms match metrics on their full dimension set, service included.
        assert set(re.findall(r'POWERTOOLS_SERVICE_NAME\s*=\s*"([^"]+)"', text)) == {observability.SERVICE}
        assert set(re.findall(r'POWERTOOLS_METRICS_NAMESPACE\s*=\s*"([^"]+)"', text)) == {observability.NAMESPACE}
        assert "metrics_service_name       = local.common_environment.POWERTOOLS_SERVICE_NAME" in text
    monitoring = blocks(MODULES_DIR / "monitoring", "variable")
    assert monitoring["metrics_namespace"]["default"] == observability.NAMESPACE


def test_functions_use_the_service_handlers() -> None:
    handler = blocks(MODULES_DIR / "lambda_function", "variable")["handler"]["default"]
    module_name, function_name = handler.split(".")
    for service in ("replication", "s3_cleanup", "watermark_admin"):
        handler_file = ROOT / "services" / service / f"{module_name}.py"
        assert f"def {function_name}(" in handler_file.read_text(), f"{handler_file} has no {function_name}"
    variables = blocks(MODULES_DIR / "lambda_function", "variable")
    assert variables["runtime"]["default"] == "python3.12"
    assert variables["architecture"]["default"] == "arm64"
    lifecycle = typed_blocks(MODULES_DIR / "lambda_function", "resource")[("aws_lambda_function", "this")]["lifecycle"]
    assert {"s3_key", "s3_object_version", "source_code_hash"} <= set(lifecycle[0]["ignore_changes"])


def test_state_table_matches_the_application_key_schema() -> None:
    directory = MODULES_DIR / "state_table"
    keys = locals_of(directory)
    assert keys["ttl_attribute"] == state_schema.TTL_ATTRIBUTE
    table = typed_blocks(directory, "resource")[("aws_dynamodb_table", "this")]
    assert table["billing_mode"] == "PAY_PER_REQUEST"
    assert table["ttl"][0]["attribute_name"] == "${local.ttl_attribute}"

    def resolve(expression: str) -> str:
        match = re.fullmatch(r"\$\{local\.(\w+)\}", expression)
        assert match, f"{expression} is not a local"
        return str(keys[match.group(1)])

    key_schema = {"HASH": resolve(table["hash_key"]), "RANGE": resolve(table["range_key"])}
    assert key_schema == {item["KeyType"]: item["AttributeName"] for item in state_schema.KEY_SCHEMA}
    attributes = {(resolve(attribute["name"]), attribute["type"]) for attribute in table["attribute"]}
    assert attributes == {(item["AttributeName"], item["AttributeType"]) for item in state_schema.ATTRIBUTE_DEFINITIONS}


def object_attributes(type_expression: str) -> dict[str, str]:
    """Attribute name -> type of the first object({...}) in a Terraform type expression."""
    start = type_expression.index("object({") + len("object({")
    attributes: dict[str, str] = {}
    depth, part_start, quoted = 0, start, False
    for position in range(start, len(type_expression)):
        character = type_expression[position]
        if character == '"':
            quoted = not quoted
        elif quoted:
            continue
        elif character in "([{":
            depth += 1
        elif character in ")]}" and depth > 0:
            depth -= 1
        elif depth == 0 and character in ",}":
            name, _, attribute_type = type_expression[part_start:position].partition("=")
            attributes[name.strip()] = attribute_type.strip()
            if character == "}":
                return attributes
            part_start = position + 1
    raise AssertionError(f"unterminated object type: {type_expression}")


def test_object_attributes_reads_nested_types() -> None:
    parsed = object_attributes(
        '${map(object({a = string, b = optional(map(object({c = number}))), d = optional(string, "x,y")}))}'
    )
    assert parsed == {
        "a": "string",
        "b": "optional(map(object({c = number})))",
        "d": 'optional(string, "x,y")',
    }


def test_scheduling_tables_carry_every_table_option() -> None:
    """modules/scheduling's tables and the application's TableOptions must not drift apart: a
    missing attribute leaves an option unreachable from Terraform; an extra one would put a key
    the application rejects into TABLES."""
    directory = MODULES_DIR / "scheduling"
    tables = blocks(directory, "variable")["tables"]
    attributes = object_attributes(tables["type"])
    rule_only = set(locals_of(directory)["rule_only_attributes"])
    assert rule_only == {"schedule_expression", "enabled"}
    # The map key is schema.table; the input builder splits it into these two.
    from_key = {"schema_name", "table_name"}
    text = source_text(directory)
    for position, name in enumerate(("schema_name", "table_name")):
        assert re.search(rf'\b{name}\s*=\s*split\("\.", key\)\[{position}\]', text), f"{name} is not taken from the key"
    options = set(TableOptions.model_fields) - {"last_value"}
    for name in options:
        assert name in attributes or name in from_key, f"tables lacks the option {name}"
    assert set(attributes) - rule_only <= options, sorted(set(attributes) - rule_only - options)
    masking = object_attributes(attributes["masking"])
    assert set(masking) == set(ColumnMask.model_fields), f"masking rules take {sorted(masking)}"

    # The closed sets the validations check are the application's.
    conditions = " ".join(str(validation["condition"]) for validation in tables["validation"])
    closed_sets = {
        subject: {value.strip().strip('"') for value in values.split(",")}
        for values, subject in re.findall(r"contains\(\[([^\]]*)\],\s*([\w.]+)\)", conditions)
    }
    truncate_type = ColumnMask.model_fields["truncate_to"].annotation
    assert closed_sets == {
        "table.mode": {mode.value for mode in Mode},
        "table.on_incompatible_change": set(get_args(TableOptions.model_fields["on_incompatible_change"].annotation)),
        "table.full_refresh_strategy": set(get_args(TableOptions.model_fields["full_refresh_strategy"].annotation)),
        "table.delete_mode": set(get_args(TableOptions.model_fields["delete_mode"].annotation)),
        "mask.rule": set(get_args(MaskRule)),
        "mask.truncate_to": {value for literal in get_args(truncate_type) for value in get_args(literal)},
    }
    for rule, rule_options in _RULE_OPTIONS.items():
        for option in rule_options:
            assert f'(mask.{option} != null) == (mask.rule == "{rule}")' in conditions, (rule, option)

    # The composition forwards the same map, so its settings declare the same type.
    composed = settings_attributes()["tables"]
    assert composed.startswith("optional(map(object({"), composed
    assert object_attributes(composed) == attributes, "settings.tables differs from the scheduling module's tables"
    assert object_attributes(object_attributes(composed)["masking"]) == masking


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_tfvars_example_tables_are_valid_table_options(environment: str) -> None:
    """Each settings.yaml entry, as the rule input carries it, is accepted by the application."""
    example = environment_settings(environment)
    rule_only = set(locals_of(MODULES_DIR / "scheduling")["rule_only_attributes"])
    masked = 0
    for key, entry in example["tables"].items():
        schema_name, table_name = key.split(".")
        options = {name: value for name, value in entry.items() if name not in rule_only}
        table = TableOptions(schema_name=schema_name, table_name=table_name, **options)
        masked += bool(table.masking)
    assert masked, f"environments/{environment}/settings.yaml shows no masked table"


@pytest.mark.parametrize("module", MODULES)
def test_module_terraform_test_mocks_its_providers(module: str) -> None:
    directory = MODULES_DIR / module
    tests = parse(directory / "tests" / f"{module}.tftest.hcl")
    providers = set(parse(directory / "versions.tf")["terraform"][0]["required_providers"][0])
    mocked = {name for block in tests.get("mock_provider", []) for name in block}
    assert mocked == providers, f"modules/{module}: mocks {sorted(mocked)}, needs {sorted(providers)}"
    runs = [body for block in tests["run"] for body in block.values()]
    assert runs
    assert any(body.get("assert") for body in runs), f"modules/{module}: no run asserts anything"
    for body in runs:
        assert body.get("command") == "plan", f"modules/{module}: runs must plan against the mocks"
        assert body.get("assert") or body.get("expect_failures")


@pytest.mark.parametrize("module", MODULES)
def test_module_readme_documents_every_input_and_output(module: str) -> None:
    directory = MODULES_DIR / module
    readme = (directory / "README.md").read_text()
    assert re.search(r"^## How an environment uses it", readme, re.MULTILINE), f"modules/{module}/README.md"
    for kind in ("variable", "output"):
        for name in blocks(directory, kind):
            assert f"`{name}`" in readme, f"modules/{module}/README.md does not document {kind} {name}"


def test_checkov_skips_carry_a_reason() -> None:
    skip = re.compile(r"^\s*#checkov:skip=CKV2?_[A-Z0-9]+_\d+:\S.{9,}$")
    skips = [
        (path, line)
        for path in [*ROOT.glob("modules/**/*.tf"), *ROOT.glob("environments/*/*.tf"), *ROOT.glob("examples/*/*.tf")]
        for line in path.read_text().splitlines()
        if "checkov:skip" in line
    ]
    assert skips
    for path, line in skips:
        assert skip.match(line), f"{path.relative_to(ROOT)}: skip without a reason: {line.strip()}"


def test_workflow_runs_every_check_on_every_directory() -> None:
    workflow = yaml.safe_load(WORKFLOW.read_text())
    jobs = workflow["jobs"]
    uses = [step["uses"] for job in jobs.values() for step in job["steps"] if "uses" in step]
    assert uses
    for action in uses:
        assert re.fullmatch(r"[\w.-]+/[\w./-]+@[0-9a-f]{40}", action), f"{action} is not pinned to a commit"
    # The version each commit stands for, readable next to it.
    for line in WORKFLOW.read_text().splitlines():
        if "uses:" in line:
            assert re.search(r"@[0-9a-f]{40} # v\d+\.\d+\.\d+$", line), f"{line.strip()} names no version"
    runs = "\n".join(step.get("run", "") for job in jobs.values() for step in job["steps"])
    for command in (
        "terraform fmt -check -recursive",
        "terraform validate",
        "terraform test",
        "tflint --recursive",
    ):
        assert command in runs, f"terraform.yml does not run {command}"
    assert "make checkov" in runs
    assert sorted(jobs["validate"]["strategy"]["matrix"]["directory"]) == sorted(
        str(path.relative_to(ROOT)) for path in CONFIG_DIRS
    )
    assert jobs["test"]["strategy"]["matrix"]["module"] == MODULES


def test_tflint_uses_the_aws_ruleset() -> None:
    config = parse(ROOT / ".tflint.hcl")
    plugins = {name: body for block in config["plugin"] for name, body in block.items()}
    assert plugins["aws"]["enabled"] is True
    assert plugins["aws"]["source"] == "github.com/terraform-linters/tflint-ruleset-aws"
    assert re.match(r"^\d+\.\d+\.\d+$", plugins["aws"]["version"])
    assert plugins["terraform"]["preset"] == "all"


# Security contracts: what a review of the network, the data at rest and the deployment
# path relies on.


def test_every_aws_endpoint_carries_a_policy_for_the_organisation() -> None:
    directory = MODULES_DIR / "privatelink"
    endpoints = typed_blocks(directory, "resource")
    for name in ("gateway", "interface"):
        assert "policy" in endpoints[("aws_vpc_endpoint", name)], f"aws_vpc_endpoint.{name} has no endpoint policy"
    statements = locals_of(directory)
    gateway = statements["gateway_statements"]
    assert set(gateway) == {"s3", "dynamodb"}
    interface = statements["interface_statements"]
    services = blocks(directory, "variable")["interface_endpoint_services"]
    allowed = re.search(r"contains\(\[([^\]]*)\]", str(services["validation"][0]["condition"]))
    assert allowed
    assert set(interface) == {value.strip().strip('"') for value in allowed.group(1).split(",")}
    assert "aws:PrincipalOrgID" in str(statements["organisation_principals"])
    for service, statement in interface.items():
        condition = str(statement["Condition"])
        assert "aws:PrincipalOrgID" in condition or condition == "${local.organisation_principals}", (
            f"{service} endpoint admits any organisation"
        )
        assert statement["Action"] != "*" and "*" not in statement["Action"], f"{service} endpoint allows every action"
    text = source_text(directory)
    assert '"${var.staging_bucket_arn}/*"' in text
    assert '"${var.state_table_arn}/index/*"' in text
    organisation = blocks(directory, "variable")["organization_id"]
    assert "^o-" in str(organisation["validation"][0]["condition"])


def test_each_function_has_its_own_security_group_and_egress() -> None:
    directory = MODULES_DIR / "networking"
    egress = locals_of(directory)["function_egress"]
    assert egress == {
        "replication": {"aurora": True, "vault": True, "snowflake": True, "gateways": ["s3", "dynamodb"]},
        "s3_cleanup": {"aurora": False, "vault": False, "snowflake": False, "gateways": ["s3", "dynamodb"]},
        "watermark_admin": {"aurora": False, "vault": False, "snowflake": False, "gateways": ["dynamodb"]},
    }
    resources = typed_blocks(directory, "resource")
    assert resources[("aws_security_group", "this")]["for_each"] == "${local.function_egress}"
    # Aurora talks with the replication function only, both ways.
    for kind, name in (("egress", "aurora"), ("ingress", "aurora_from_lambda")):
        rule = resources[(f"aws_vpc_security_group_{kind}_rule", name)]
        assert '["replication"]' in str(rule), f"{name} is not limited to the replication function"
    # The composition gives each function its own group.
    functions = blocks(COMPOSITION_DIR, "module")["lambda_function"]
    assert functions["for_each"] == "${local.functions}"
    assert set(locals_of(COMPOSITION_DIR)["functions"]) == set(egress)
    assert functions["security_group_ids"] == ["${module.networking.lambda_security_group_ids[each.key]}"]


def test_staging_bucket_policy_denies_other_keys_and_outside_the_endpoint() -> None:
    directory = MODULES_DIR / "staging_bucket"
    document = typed_blocks(directory, "data")[("aws_iam_policy_document", "this")]
    statements = {statement["sid"]: statement for statement in document["statement"]}
    key = statements["DenyOtherKmsKey"]
    assert key["effect"] == "Deny" and key["actions"] == ["s3:PutObject"]
    assert key["condition"] == [
        {
            "test": "StringNotEqualsIfExists",
            "variable": "s3:x-amz-server-side-encryption-aws-kms-key-id",
            "values": ["${var.kms_key_arn}"],
        }
    ]
    assert statements["DenyOtherEncryption"]["condition"][0]["values"] == ["aws:kms"]
    outside = statements["DenyOutsideVpcEndpoint"]
    assert outside["effect"] == "Deny" and outside["actions"] == ["s3:*"]
    tests = {(condition["test"], condition["variable"]): condition["values"] for condition in outside["condition"]}
    assert tests == {
        ("StringNotEquals", "aws:SourceVpce"): "${var.vpc_endpoint_ids}",
        ("ArnNotLike", "aws:PrincipalArn"): "${var.vpc_endpoint_exempt_principal_arns}",
    }
    for sid in ("DenyInsecureTransport", "DenyOutdatedTls"):
        assert statements[sid]["effect"] == "Deny"
    # The exception is the Snowflake storage role and the administrators, nobody else.
    call = blocks(COMPOSITION_DIR, "module")["staging_bucket"]
    assert call["vpc_endpoint_ids"] == ['${module.privatelink.gateway_endpoint_ids["s3"]}']
    assert call["vpc_endpoint_exempt_principal_arns"] == (
        "${concat([module.iam.snowflake_storage_role_arn], var.settings.administrator_arns)}"
    )
    assert call["access_logging_enabled"] == "${local.profile.access_logging_enabled}"
    logging = {environment: profiles()[environment]["access_logging_enabled"] for environment in ENVIRONMENTS}
    assert logging == {"dev": False, "staging": True, "prod": True}


def test_failure_queue_uses_the_environment_key() -> None:
    directory = MODULES_DIR / "lambda_function"
    queue = typed_blocks(directory, "resource")[("aws_sqs_queue", "dead_letter")]
    assert queue["kms_master_key_id"] == "${var.kms_key_arn}"
    assert "sqs_managed_sse_enabled" not in queue
    runtime = typed_blocks(MODULES_DIR / "iam", "data")[("aws_iam_policy_document", "runtime")]
    key_statement = next(item for item in runtime["statement"] if item.get("sid") == "OnFailureDestinationKey")
    assert key_statement["resources"] == ["${var.kms_key_arn}"]


def test_key_policy_separates_administrators_from_users() -> None:
    text = (MODULES_DIR / "kms" / "main.tf").read_text()
    assert '"kms:*"' not in text
    statements = dict(re.findall(r'Sid\s+=\s+"(\w+)"(.*?)\n      \}', text, re.DOTALL))
    assert set(statements) == {
        "AccountKeyPolicyRecovery",
        "KeyAdministrators",
        "KeyUsers",
        "CloudWatchLogsEncryption",
        "CloudWatchAlarmsPublish",
    }
    recovery = statements["AccountKeyPolicyRecovery"]
    assert re.search(r'Action\s+=\s+\["kms:DescribeKey", "kms:GetKeyPolicy", "kms:PutKeyPolicy"\]', recovery)
    assert "var.key_administrator_arns" in statements["KeyAdministrators"]
    assert not re.search(r"kms:(Decrypt|Encrypt|GenerateDataKey|ReEncrypt)", statements["KeyAdministrators"])
    assert '"aws:PrincipalArn" = var.key_user_arns' in statements["KeyUsers"]
    assert not re.search(r"kms:(Put|Delete|Schedule|Create|Disable|Update)", statements["KeyUsers"])
    assert '"kms:EncryptionContext:aws:logs:arn" = var.log_group_arns' in statements["CloudWatchLogsEncryption"]
    assert "log-group:*" not in text
    call = blocks(COMPOSITION_DIR, "module")["kms"]
    assert call["key_administrator_arns"] == "${var.settings.administrator_arns}"
    assert call["key_user_arns"] == "${module.iam.key_user_arns}"
    assert call["log_group_arns"] == "${values(local.log_group_arns)}"


def test_code_signing_is_enforced_in_prod() -> None:
    policies = {environment: profiles()[environment]["code_signing_policy"] for environment in ENVIRONMENTS}
    assert policies == {"dev": "Warn", "staging": "Warn", "prod": "Enforce"}
    call = blocks(COMPOSITION_DIR, "module")["code_signing"]
    assert call["untrusted_artifact_on_deployment"] == "${local.profile.code_signing_policy}"
    profile = locals_of(COMPOSITION_DIR)["profile"]
    assert profile["code_signing_policy"] == "${local.base_profile.code_signing_policy}"
    function = typed_blocks(MODULES_DIR / "lambda_function", "resource")[("aws_lambda_function", "this")]
    assert function["code_signing_config_arn"] == "${var.code_signing_config_arn}"
    assert "default" not in blocks(MODULES_DIR / "lambda_function", "variable")["code_signing_config_arn"]
    for name, call in blocks(COMPOSITION_DIR, "module").items():
        if call["source"] == "../lambda_function":
            assert call["code_signing_config_arn"] == "${module.code_signing.config_arn}", name
    skips = "\n".join(path.read_text() for path in MODULES_DIR.glob("**/*.tf"))
    assert "CKV_AWS_272" not in skips


def test_state_moves_lead_into_the_composition() -> None:
    """Every module the flat roots called moves to its place in the composition, so an applied
    workspace keeps its key, bucket and state table through the upgrade."""
    flat_calls = {
        "kms",
        "networking",
        "privatelink",
        "staging_bucket",
        "state_table",
        "iam",
        "scheduling",
        "monitoring",
        "replication_function",
        "s3_cleanup_function",
        "watermark_admin_function",
    }
    moves = [
        {end: address.removeprefix("${").removesuffix("}") for end, address in block.items()}
        for block in parse(ENVIRONMENTS_DIR / "moved.tf")["moved"]
    ]
    sources = {move["from"].removeprefix("module.") for move in moves}
    assert sources == flat_calls
    composition_calls = blocks(COMPOSITION_DIR, "module")
    functions = set(locals_of(COMPOSITION_DIR)["functions"])
    for move in moves:
        match = re.fullmatch(r'module\.aurora_batch\.module\.([a-z0-9_]+)(?:\["([a-z0-9_]+)"\])?', move["to"])
        assert match, move["to"]
        call, key = match.groups()
        assert call in composition_calls, move["to"]
        if key is not None:
            assert "for_each" in composition_calls[call] and key in functions, move["to"]


# --- the admin function's caller identity ----------------------------------------------------------

ADMIN_SESSION_CASES = [
    # (settings.admin_principals entry, a signed caller ARN it admits, one it does not)
    (
        "arn:aws:iam::123456789012:role/DataOps",
        "arn:aws:sts::123456789012:assumed-role/DataOps/alice",
        "arn:aws:sts::123456789012:assumed-role/DataOpsReadOnly/alice",
    ),
    (
        "arn:aws:iam::123456789012:role/teams/data/DataOps",
        "arn:aws:sts::123456789012:assumed-role/DataOps/bob",
        "arn:aws:sts::210987654321:assumed-role/DataOps/bob",
    ),
    (
        "arn:aws:iam::123456789012:user/carol",
        "arn:aws:iam::123456789012:user/carol",
        "arn:aws:iam::123456789012:user/carol2",
    ),
]


def test_admin_function_url_is_iam_authenticated_and_only_for_the_admin_principals() -> None:
    resources = typed_blocks(MODULES_DIR / "lambda_function", "resource")
    url = resources[("aws_lambda_function_url", "this")]
    assert url["authorization_type"] == "AWS_IAM"
    assert url["qualifier"] == "${aws_lambda_alias.this.name}"
    invoke_url = resources[("aws_lambda_permission", "function_url")]
    assert (invoke_url["action"], invoke_url["function_url_auth_type"]) == ("lambda:InvokeFunctionUrl", "AWS_IAM")
    invoke = resources[("aws_lambda_permission", "function_url_invoke")]
    assert (invoke["action"], invoke["invoked_via_function_url"]) == ("lambda:InvokeFunction", True)
    for permission in (invoke_url, invoke):
        assert permission["principal"] == "${each.value}"
        assert "var.function_url.invoker_principal_arns" in permission["for_each"]
    assert '"NONE"' not in source_text(MODULES_DIR / "lambda_function")

    functions = locals_of(COMPOSITION_DIR)["functions"]
    assert functions["replication"]["function_url"] is None
    assert functions["s3_cleanup"]["function_url"] is None
    assert "invoker_principal_arns = var.settings.admin_principals" in functions["watermark_admin"]["function_url"]
    assert functions["watermark_admin"]["environment"] == "${local.watermark_admin_environment}"
    assert blocks(COMPOSITION_DIR, "module")["lambda_function"]["function_url"] == "${each.value.function_url}"
    assert (
        "ADMIN_PRINCIPALS = jsonencode(local.admin_principal_patterns)"
        in locals_of(COMPOSITION_DIR)["watermark_admin_environment"]
    )
    assert settings_attributes()["admin_principals"] == "optional(list(string), [])"


@pytest.mark.parametrize(("principal", "admitted", "refused"), ADMIN_SESSION_CASES)
def test_admin_principals_become_patterns_that_admit_their_signed_sessions(
    principal: str, admitted: str, refused: str
) -> None:
    from fnmatch import fnmatchcase

    from aurora_batch.config.admin_principals import parse_admin_principals

    expression = locals_of(COMPOSITION_DIR)["admin_principal_patterns"]
    pattern, replacement = re.search(r'replace\(arn, "/(.*)/", "(.*)"\)', expression).groups()  # type: ignore[union-attr]
    # Terraform's RE2 replacement names groups $1; Python's re names them \1.
    converted = re.sub(pattern, re.sub(r"\$(\d)", r"\\\1", replacement), principal)
    (parsed,) = parse_admin_principals(f'["{converted}"]')  # as the composition's jsonencode writes it

    assert fnmatchcase(admitted, parsed)
    assert not fnmatchcase(refused, parsed)


def test_audit_records_are_append_only_for_every_role() -> None:
    from aurora_batch.adapters.state_store.admin import AUDIT_PARTITION_PREFIX

    assert locals_of(MODULES_DIR / "iam")["audit_partition_keys"] == [f"{AUDIT_PARTITION_PREFIX}*"]
    documents = typed_blocks(MODULES_DIR / "iam", "data")

    def statements(name: str) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = documents[("aws_iam_policy_document", name)]["statement"]
        return found

    def audit_denials(name: str) -> set[str]:
        denied: set[str] = set()
        for statement in statements(name):
            conditions = statement.get("condition", [])
            on_audit = any(
                c["variable"] == "dynamodb:LeadingKeys" and c["values"] == "${local.audit_partition_keys}"
                for c in conditions
            )
            if statement.get("effect") == "Deny" and on_audit:
                denied |= set(statement["actions"])
        return denied

    writes = {"dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem"}
    assert audit_denials("replication") >= writes
    admin_allowed = {
        a for s in statements("watermark_admin") if s.get("effect", "Allow") == "Allow" for a in s["actions"]
    }
    assert "dynamodb:DeleteItem" not in admin_allowed
    assert "dynamodb:PutItem" in admin_allowed
    assert audit_denials("watermark_admin") >= {"dynamodb:UpdateItem", "dynamodb:DeleteItem"}
    # The cleanup function only reads.
    cleanup_allowed = {a for s in statements("s3_cleanup") for a in s["actions"] if a.startswith("dynamodb:")}
    assert cleanup_allowed <= {"dynamodb:GetItem", "dynamodb:Query", "dynamodb:Scan"}


def test_verify_rules_send_the_verify_action_and_only_what_it_takes() -> None:
    """The verify rule's input is the replication function's verify action: its keys are the ones
    handle_verify_action accepts, and repair is the table's verify_repair (true by default)."""
    from aurora_batch.logic.verify.entry import _ACTION_KEYS, VERIFY_ACTION

    directory = MODULES_DIR / "scheduling"
    inputs = locals_of(directory)["verify_inputs"]
    body = str(inputs).split("jsonencode(", 1)[1]
    keys = set(re.findall(r"(\w+)\s*=", body))
    assert keys == _ACTION_KEYS, sorted(keys)
    assert f'"{VERIFY_ACTION}"' in str(inputs) or f"'{VERIFY_ACTION}'" in str(inputs)
    assert "table.verify_repair" in str(inputs)
    attributes = object_attributes(blocks(directory, "variable")["tables"]["type"])
    assert attributes["verify_repair"] == "optional(bool, true)"
    assert TableOptions.model_fields["verify_repair"].default is True
    for resource in ("aws_cloudwatch_event_rule", "aws_cloudwatch_event_target", "aws_lambda_permission"):
        assert (resource, "verify") in typed_blocks(directory, "resource"), resource


def test_drift_alarm_and_widgets_use_the_emitted_verify_metrics() -> None:
    """Every metric the monitoring module names exists in observability.py, under the dimensions it emits."""
    monitoring = source_text(MODULES_DIR / "monitoring")
    emitted = set(re.findall(r'"(\w+)"', Path(observability.__file__).read_text(encoding="utf-8")))
    for metric in (
        "VerifyDriftAfterRepair",
        "VerifyMissingRows",
        "VerifyDeletedRows",
        "VerifyChangedRows",
        "VerifyRepairedRows",
        "VerifyRepairedDeletes",
        "VerifyDurationSeconds",
        "KeyCountDifference",
    ):
        assert metric in emitted, metric
        assert f'"{metric}"' in monitoring, metric
    composition = source_text(COMPOSITION_DIR)
    assert re.search(r"verify\s*=\s*try\(table\.row_digest, false\) == true", composition)

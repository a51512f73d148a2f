"""Checks of modules/ and environments/ that need no terraform binary.

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
WORKFLOW = ROOT / ".github" / "workflows" / "terraform.yml"

MODULES = sorted(path.name for path in MODULES_DIR.iterdir() if path.is_dir())
ENVIRONMENTS = sorted(path.name for path in ENVIRONMENTS_DIR.iterdir() if path.is_dir())
CONFIG_DIRS = [MODULES_DIR / name for name in MODULES] + [ENVIRONMENTS_DIR / name for name in ENVIRONMENTS]
HCL_FILES = sorted(
    [
        *ROOT.glob("modules/**/*.tf"),
        *ROOT.glob("modules/*/tests/*.tftest.hcl"),
        *ROOT.glob("environments/*/*.tf"),
        *ROOT.glob("environments/*/terraform.tfvars.example"),
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
    },
    "environments": {"lambda_architecture", "log_level", "replication_mode", "staging_format"},
}
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
    "TABLES",
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
    checked = 0
    for directory in CONFIG_DIRS:
        calls = blocks(directory, "module")
        for call, output in reference.findall(source_text(directory)):
            assert call in calls, f"{directory.name}: module.{call} is not declared"
            called = (directory / calls[call]["source"]).resolve()
            assert output in blocks(called, "output"), f"{directory.name}: module.{call}.{output} does not exist"
            checked += 1
    assert checked > 30


def test_every_module_is_used_by_every_environment() -> None:
    # snowflake_stage is composed in the Snowflake workspace: its provider connects on
    # every plan, which would make each AWS plan need Snowflake credentials.
    aws_modules = set(MODULES) - {"snowflake_stage"}
    for environment in ENVIRONMENTS:
        used = {called.name for directory, _, _, called in module_calls() if directory.name == environment}
        assert used == aws_modules, f"{environment} wires {sorted(used ^ aws_modules)} unexpectedly"


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_environment_has_cloud_workspace_and_providers(environment: str) -> None:
    directory = ENVIRONMENTS_DIR / environment
    for name in (
        "main.tf",
        "variables.tf",
        "outputs.tf",
        "versions.tf",
        "providers.tf",
        "terraform.tfvars.example",
    ):
        assert (directory / name).is_file(), f"environments/{environment} lacks {name}"
    terraform = parse(directory / "versions.tf")["terraform"][0]
    cloud = terraform["cloud"][0]
    assert cloud["organization"]
    assert cloud["workspaces"][0]["name"] == f"aurora-batch-{environment}"
    assert "backend" not in terraform
    assert set(blocks(directory, "provider")) == set(terraform["required_providers"][0]) == {"aws"}
    assert locals_of(directory)["environment"] == environment


def test_environments_differ_only_in_their_settings() -> None:
    """The roots are parallel on purpose (one workspace each); this keeps them from drifting."""

    def normalised(environment: str, name: str) -> str:
        text = (ENVIRONMENTS_DIR / environment / name).read_text()
        return text.replace(f'environment = "{environment}"', "environment = ENV").replace(
            f"aurora-batch-{environment}", "aurora-batch-ENV"
        )

    for name in ("main.tf", "outputs.tf", "providers.tf", "versions.tf"):
        texts = {environment: normalised(environment, name) for environment in ENVIRONMENTS}
        assert len(set(texts.values())) == 1, f"environments/*/{name} differ beyond the environment name"
    shapes = {
        environment: {
            name: {key: value for key, value in body.items() if key != "default"}
            for name, body in blocks(ENVIRONMENTS_DIR / environment, "variable").items()
        }
        for environment in ENVIRONMENTS
    }
    first = shapes[ENVIRONMENTS[0]]
    for environment, shape in shapes.items():
        assert shape == first, f"environments/{environment}/variables.tf differs beyond its defaults"


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_tfvars_example_names_declared_variables(environment: str) -> None:
    directory = ENVIRONMENTS_DIR / environment
    example = parse(directory / "terraform.tfvars.example")
    variables = blocks(directory, "variable")
    assert set(example) <= set(variables), sorted(set(example) - set(variables))
    required = {name for name, body in variables.items() if "default" not in body}
    assert required <= set(example), f"example misses {sorted(required - set(example))}"


def test_environments_set_their_own_sizes_schedules_and_thresholds() -> None:
    for name in (
        "lambda_memory_size",
        "lambda_timeout",
        "replication_reserved_concurrency",
        "schedule_expression",
        "staleness_threshold_seconds",
    ):
        defaults = [blocks(ENVIRONMENTS_DIR / environment, "variable")[name]["default"] for environment in ENVIRONMENTS]
        assert len(set(defaults)) == len(ENVIRONMENTS), f"{name} is the same in every environment: {defaults}"


def test_no_variable_carries_a_secret() -> None:
    secret = re.compile(r"password|token|secret_key|private_key|access_key", re.IGNORECASE)
    for directory in CONFIG_DIRS:
        for name in blocks(directory, "variable"):
            assert not secret.search(name), (
                f"{directory.name}: variable {name} looks like a secret; Vault holds secrets"
            )


def test_replication_environment_covers_the_application_contract() -> None:
    for environment in ENVIRONMENTS:
        text = (ENVIRONMENTS_DIR / environment / "main.tf").read_text()
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
    the handler rejects into every rule input and into TABLES."""
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
        "mask.rule": set(get_args(MaskRule)),
        "mask.truncate_to": {value for literal in get_args(truncate_type) for value in get_args(literal)},
    }
    for rule, rule_options in _RULE_OPTIONS.items():
        for option in rule_options:
            assert f'(mask.{option} != null) == (mask.rule == "{rule}")' in conditions, (rule, option)

    # The environments forward the same map, so they declare the same type.
    for environment in ENVIRONMENTS:
        declared = blocks(ENVIRONMENTS_DIR / environment, "variable")["tables"]["type"]
        assert declared == tables["type"], f"environments/{environment}: tables differs from the module's"


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_tfvars_example_tables_are_valid_table_options(environment: str) -> None:
    """Each example entry, as the rule input carries it, is accepted by the application."""
    example = parse(ENVIRONMENTS_DIR / environment / "terraform.tfvars.example")
    rule_only = set(locals_of(MODULES_DIR / "scheduling")["rule_only_attributes"])
    masked = 0
    for key, entry in example["tables"].items():
        schema_name, table_name = key.split(".")
        options = {name: value for name, value in entry.items() if name not in rule_only}
        table = TableOptions(schema_name=schema_name, table_name=table_name, **options)
        masked += bool(table.masking)
    assert masked, f"environments/{environment}/terraform.tfvars.example shows no masked table"


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
        for path in [*ROOT.glob("modules/**/*.tf"), *ROOT.glob("environments/*/*.tf")]
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
        assert re.search(r"@v\d+\.\d+\.\d+$", action), f"{action} is not pinned to a version"
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

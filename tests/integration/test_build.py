"""`make build`'s artifacts, built for real: pip fetches manylinux wheels for the Lambda
runtime (from PyPI, or pip's cache after the first run).

- every zip fits Lambda's 250 MB unzipped limit (sizes are printed: run with -s to see them);
- each zip holds its handler, the shared package and only its own dependencies;
- the x86_64 zips, unpacked into a clean Python 3.12 virtualenv that has only the runtime's
  boto3, import their handler (and, for replication, every shipped module, and pyarrow
  writes Parquet);
- two builds of the same inputs are byte-identical.
"""

from __future__ import annotations

import glob
import json
import shutil
import subprocess
import sys
import textwrap
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tools import build_lambda

REPO_ROOT = Path(__file__).resolve().parents[2]
FUNCTIONS = build_lambda.FUNCTIONS
LIGHT_FUNCTIONS = ("s3_cleanup", "watermark_admin")
NEVER_SHIPPED = ("boto3/", "botocore/", "s3transfer/")
# Development code and its dependencies: the local stack, demo and emulator live in the
# aurora_batch_dev package, on fakesnow, moto and duckdb.
DEVELOPMENT_CODE = ("aurora_batch_dev/", "fakesnow/", "moto/", "duckdb/", "duckdb_extension_httpfs/")
HEAVY_PACKAGES = ("pyarrow/", "snowflake/", "psycopg2/", "hvac/")


@dataclass(frozen=True)
class Build:
    arch: str
    python_version: str
    out_dir: Path
    report: dict[str, dict[str, Any]]  # function -> build_lambda's JSON report
    git_sha_before: str  # HEAD when the build started (a commit may land meanwhile)

    def zip_path(self, function: str) -> Path:
        return self.out_dir / f"{function}.zip"


def run_builder(*args: str) -> list[dict[str, Any]]:
    completed = subprocess.run(
        [sys.executable, "-m", "tools.build_lambda", "--json", *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=900,
    )
    assert completed.returncode == 0, completed.stderr
    report: list[dict[str, Any]] = json.loads(completed.stdout)
    return report


def build(arch: str, out_dir: Path, python_version: str = "3.12") -> Build:
    sha = build_lambda.git_sha(REPO_ROOT)
    report = run_builder("--arch", arch, "--out", str(out_dir), "--python-version", python_version)
    return Build(arch, python_version, out_dir, {entry["function"]: entry for entry in report}, sha)


def python_312() -> str | None:
    """A working python3.12 (the Lambda runtime's version): on PATH, or a pyenv install."""
    candidates = [shutil.which("python3.12")]
    candidates += sorted(glob.glob(str(Path.home() / ".pyenv" / "versions" / "3.12*" / "bin" / "python3.12")))
    for candidate in candidates:
        if candidate is None:
            continue
        probe = subprocess.run([candidate, "--version"], capture_output=True, text=True, check=False)
        if probe.returncode == 0 and probe.stdout.startswith("Python 3.12"):
            return candidate
    return None


@pytest.fixture(scope="module")
def arm64_build(tmp_path_factory: pytest.TempPathFactory) -> Build:
    return build("arm64", tmp_path_factory.mktemp("dist-arm64"))


@pytest.fixture(scope="module")
def runtime_python() -> tuple[str, str]:
    """(interpreter, python version) to unpack the x86_64 build into. Without a 3.12 the
    build targets this interpreter's version instead, and the test says so."""
    found = python_312()
    if found is not None:
        return found, "3.12"
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    print(f"\nno python3.12 here: the import test builds for and runs on Python {version}")
    return sys.executable, version


@pytest.fixture(scope="module")
def x86_64_build(tmp_path_factory: pytest.TempPathFactory, runtime_python: tuple[str, str]) -> Build:
    return build("x86_64", tmp_path_factory.mktemp("dist-x86_64"), python_version=runtime_python[1])


@pytest.fixture(scope="module")
def lambda_like_venv(tmp_path_factory: pytest.TempPathFactory, runtime_python: tuple[str, str]) -> Path:
    """A clean virtualenv with only what the Lambda runtime provides: boto3."""
    venv = tmp_path_factory.mktemp("lambda-venv")
    subprocess.run([runtime_python[0], "-m", "venv", "--clear", str(venv)], check=True, timeout=300)
    subprocess.run(
        [
            str(venv / "bin" / "python"),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "-c",
            str(REPO_ROOT / "constraints.txt"),
            "boto3",
        ],
        check=True,
        timeout=600,
    )
    return venv


def zip_entries(path: Path) -> list[zipfile.ZipInfo]:
    with zipfile.ZipFile(path) as archive:
        return archive.infolist()


def manifest_of(path: Path) -> dict[str, Any]:
    with zipfile.ZipFile(path) as archive:
        document: dict[str, Any] = json.loads(archive.read(build_lambda.MANIFEST_NAME))
    return document


# --- sizes -------------------------------------------------------------------------------


@pytest.mark.parametrize("function", FUNCTIONS)
def test_arm64_artifact_fits_lambdas_unzipped_limit(arm64_build: Build, function: str) -> None:
    path = arm64_build.zip_path(function)
    unzipped = sum(info.file_size for info in zip_entries(path))
    entry = arm64_build.report[function]
    print(
        f"\n{function} arm64: {unzipped:,} bytes unzipped, {path.stat().st_size:,} zipped, "
        f"{entry['dependency_bytes']:,} dependencies before stripping {entry['stripped_bytes']:,}, "
        f"built in {entry['seconds']} s"
    )
    assert unzipped == entry["unzipped_bytes"]
    assert unzipped < build_lambda.UNZIPPED_LIMIT_BYTES


@pytest.mark.parametrize("function", FUNCTIONS)
def test_x86_64_artifact_fits_lambdas_unzipped_limit(x86_64_build: Build, function: str) -> None:
    path = x86_64_build.zip_path(function)
    unzipped = sum(info.file_size for info in zip_entries(path))
    print(f"\n{function} x86_64: {unzipped:,} bytes unzipped, {path.stat().st_size:,} zipped")
    assert unzipped < build_lambda.UNZIPPED_LIMIT_BYTES


# --- contents ----------------------------------------------------------------------------


@pytest.mark.parametrize("function", FUNCTIONS)
def test_artifact_holds_handler_shared_package_and_manifest(arm64_build: Build, function: str) -> None:
    names = [info.filename for info in zip_entries(arm64_build.zip_path(function))]
    assert "handler.py" in names
    assert "aurora_batch/__init__.py" in names
    assert build_lambda.MANIFEST_NAME in names
    assert names == sorted(names)
    assert [name for name in names if name.startswith(NEVER_SHIPPED)] == []
    assert [name for name in names if "__pycache__" in name or name.endswith(".pyc")] == []


@pytest.mark.parametrize("function", FUNCTIONS)
def test_no_artifact_holds_development_code(arm64_build: Build, function: str) -> None:
    names = [info.filename for info in zip_entries(arm64_build.zip_path(function))]
    assert [name for name in names if name.startswith(DEVELOPMENT_CODE) or "devstack" in name] == []
    # The production package ships whole, the operator CLI included (stdlib-only at import).
    shipped = {name for name in names if name.startswith("aurora_batch/")}
    in_tree = {
        f"aurora_batch/{relative}"
        for relative, _ in build_lambda.relative_files(REPO_ROOT / "shared" / "aurora_batch")
        if "__pycache__" not in relative
    }
    assert shipped == in_tree


@pytest.mark.parametrize("function", LIGHT_FUNCTIONS)
def test_light_artifacts_carry_no_engine_dependencies(arm64_build: Build, function: str) -> None:
    names = [info.filename for info in zip_entries(arm64_build.zip_path(function))]
    assert [name for name in names if name.startswith(HEAVY_PACKAGES)] == []


def test_replication_artifact_is_stripped_but_complete(arm64_build: Build) -> None:
    names = {info.filename for info in zip_entries(arm64_build.zip_path("replication"))}
    assert {
        "pyarrow/parquet/core.py",
        "pyarrow/csv.py",
        "pyarrow/compute.py",
        "snowflake/connector/__init__.py",
    } <= names
    assert [n for n in names if "flight" in n.lower() or "libarrow_s3" in n or n.startswith("pyarrow/include/")] == []


@pytest.mark.parametrize("function", FUNCTIONS)
def test_arm64_shared_libraries_are_all_aarch64(arm64_build: Build, function: str, tmp_path: Path) -> None:
    with zipfile.ZipFile(arm64_build.zip_path(function)) as archive:
        archive.extractall(tmp_path)
    machines = {
        info.machine
        for _, path in build_lambda.relative_files(tmp_path)
        if (info := build_lambda.read_elf(path)) is not None
    }
    assert machines == {"aarch64"}  # every function ships compiled code (pydantic-core at least)


@pytest.mark.parametrize("function", FUNCTIONS)
def test_manifest_names_version_sha_arch_and_dependencies(arm64_build: Build, function: str) -> None:
    manifest = manifest_of(arm64_build.zip_path(function))
    pins = build_lambda.read_pins(REPO_ROOT / "services" / function / "requirements.txt")
    assert manifest["function"] == function
    assert manifest["version"] == build_lambda.project_version(REPO_ROOT)
    assert manifest["git_sha"] in {arm64_build.git_sha_before, build_lambda.git_sha(REPO_ROOT)}
    assert manifest["arch"] == "arm64"
    assert manifest["runtime"] == "python3.12"
    assert manifest["handler"] == "handler.lambda_handler"
    assert manifest["dependencies"] == pins
    assert "boto3" in manifest["runtime_provided"]


# --- the x86_64 build, imported in a clean virtualenv ------------------------------------

IMPORT_CHECK = textwrap.dedent(
    """
    import json, sys
    import handler
    assert callable(handler.lambda_handler)
    print(json.dumps(sorted(name.partition(".")[0] for name in sys.modules)))
    """
)

REPLICATION_CHECK = textwrap.dedent(
    """
    import importlib, io, pkgutil
    import aurora_batch, pyarrow, pyarrow.compute as pc, pyarrow.csv, pyarrow.parquet as pq
    import hvac, psycopg2, psycopg2.extras, snowflake.connector
    from aws_lambda_powertools import Logger, Metrics, Tracer

    for module in pkgutil.walk_packages(aurora_batch.__path__, "aurora_batch."):
        importlib.import_module(module.name)

    table = pyarrow.csv.read_csv(io.BytesIO(b"id,amount\\n1,2.50\\n2,3.25\\n"))
    sink = io.BytesIO()
    pq.write_table(table, sink, compression="zstd")
    back = pq.read_table(io.BytesIO(sink.getvalue()))
    assert back.num_rows == 2 and pc.sum(back["amount"]).as_py() == 5.75
    print("replication dependencies work")
    """
)


@pytest.fixture
def unpack(tmp_path: Path) -> Callable[[Path], Path]:
    def unpack_to(zip_path: Path) -> Path:
        target = tmp_path / zip_path.stem
        with zipfile.ZipFile(zip_path) as archive:
            archive.extractall(target)
        return target

    return unpack_to


def run_in_lambda_venv(venv: Path, task_root: Path, code: str) -> subprocess.CompletedProcess[str]:
    """Run code as the Lambda runtime would: the task root first on sys.path, no user site,
    no bytecode written (the task root is read-only there)."""
    return subprocess.run(
        [str(venv / "bin" / "python"), "-s", "-c", code],
        cwd=task_root,
        env={
            "PATH": "/usr/bin:/bin",
            "HOME": str(task_root),
            "PYTHONPATH": str(task_root),
            "PYTHONDONTWRITEBYTECODE": "1",
            "AWS_REGION": "us-east-1",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_LAMBDA_FUNCTION_NAME": task_root.name,
        },
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )


@pytest.mark.parametrize("function", FUNCTIONS)
def test_x86_64_handler_imports_in_a_clean_runtime_venv(
    x86_64_build: Build, lambda_like_venv: Path, unpack: Callable[[Path], Path], function: str
) -> None:
    task_root = unpack(x86_64_build.zip_path(function))

    completed = run_in_lambda_venv(lambda_like_venv, task_root, IMPORT_CHECK)

    assert completed.returncode == 0, completed.stderr
    imported = set(json.loads(completed.stdout.strip().splitlines()[-1]))
    if function in LIGHT_FUNCTIONS:
        assert imported.isdisjoint({"pyarrow", "snowflake", "psycopg2", "hvac"})


def test_x86_64_replication_dependencies_work_in_a_clean_runtime_venv(
    x86_64_build: Build, lambda_like_venv: Path, unpack: Callable[[Path], Path]
) -> None:
    task_root = unpack(x86_64_build.zip_path("replication"))

    completed = run_in_lambda_venv(lambda_like_venv, task_root, REPLICATION_CHECK)

    assert completed.returncode == 0, completed.stderr
    assert "replication dependencies work" in completed.stdout


# --- reproducibility ---------------------------------------------------------------------


def test_two_builds_of_the_same_inputs_are_byte_identical(tmp_path: Path) -> None:
    # A snapshot of the inputs, so that edits to the tree during the test cannot differ.
    snapshot = tmp_path / "repo"
    shutil.copytree(
        REPO_ROOT / "shared" / "aurora_batch",
        snapshot / "shared" / "aurora_batch",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    shutil.copytree(REPO_ROOT / "services" / "s3_cleanup", snapshot / "services" / "s3_cleanup")
    shutil.copy(REPO_ROOT / "pyproject.toml", snapshot / "pyproject.toml")

    first, second = (
        run_builder("--function", "s3_cleanup", "--repo-root", str(snapshot), "--out", str(tmp_path / out))
        for out in ("first", "second")
    )

    assert first[0]["sha256"] == second[0]["sha256"]
    assert (tmp_path / "first" / "s3_cleanup.zip").read_bytes() == (tmp_path / "second" / "s3_cleanup.zip").read_bytes()


def test_a_lock_whose_hash_is_wrong_fails_the_build(tmp_path: Path) -> None:
    snapshot = tmp_path / "repo"
    shutil.copytree(
        REPO_ROOT / "shared" / "aurora_batch",
        snapshot / "shared" / "aurora_batch",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    shutil.copytree(REPO_ROOT / "services" / "s3_cleanup", snapshot / "services" / "s3_cleanup")
    shutil.copy(REPO_ROOT / "pyproject.toml", snapshot / "pyproject.toml")
    lock = snapshot / "services" / "s3_cleanup" / "requirements.txt"
    pins = build_lambda.read_lock(lock)
    # Every hash of one wheel replaced: the right version, but not the bytes the lock vouches for.
    text = lock.read_text()
    for value in pins["jmespath"].hashes:
        text = text.replace(value, "sha256:" + "0" * 64)
    lock.write_text(text)

    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "tools.build_lambda",
            "--function",
            "s3_cleanup",
            "--repo-root",
            str(snapshot),
            "--out",
            str(tmp_path / "out"),
        ],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=900,
    )

    assert completed.returncode == 1
    assert "pip could not install" in completed.stderr
    assert "jmespath" in completed.stderr
    assert "HASH" in completed.stderr.upper()
    assert not (tmp_path / "out" / "s3_cleanup.zip").exists()

"""The Lambda artifact builder's parts, without pip or the network (tests/integration/
test_build.py builds the real zips)."""

from __future__ import annotations

import os
import re
import stat
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest
from packaging.utils import canonicalize_name

from tools import build_lambda, lock_lambda
from tools.build_lambda import ARCHITECTURES, BuildError, Dependency

REPO_ROOT = Path(__file__).resolve().parents[2]
ARM64 = ARCHITECTURES["arm64"]
HEAVY_DEPENDENCIES = {
    "pyarrow",
    "snowflake-connector-python",
    "psycopg2-binary",
    "hvac",
    "adbc-driver-manager",
    "adbc-driver-postgresql",
}


HASH_A = "--hash=sha256:" + "a" * 64
HASH_B = "--hash=sha256:" + "b" * 64


def constraints() -> dict[str, str]:
    pins: dict[str, str] = {}
    for line in (REPO_ROOT / "constraints.txt").read_text().splitlines():
        name, _, version = line.partition("==")
        pins[canonicalize_name(name)] = version.strip()
    return pins


# --- requirements ------------------------------------------------------------------------


@pytest.mark.parametrize("function", build_lambda.FUNCTIONS)
def test_requirements_are_pinned_like_the_project_constraints(function: str) -> None:
    pins = build_lambda.read_pins(REPO_ROOT / "services" / function / "requirements.txt")
    project = constraints()
    assert pins
    mismatched = {name: (version, project.get(name)) for name, version in pins.items() if project.get(name) != version}
    assert mismatched == {}


@pytest.mark.parametrize("function", ["s3_cleanup", "watermark_admin"])
def test_light_functions_do_not_ship_the_heavy_dependencies(function: str) -> None:
    pins = build_lambda.read_pins(REPO_ROOT / "services" / function / "requirements.txt")
    assert HEAVY_DEPENDENCIES.isdisjoint(pins)


def test_replication_ships_its_engine_dependencies() -> None:
    pins = build_lambda.read_pins(REPO_ROOT / "services" / "replication" / "requirements.txt")
    assert pins.keys() >= HEAVY_DEPENDENCIES


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("pyarrow>=26", "pinned"),
        ("pyarrow==26.*", "pinned"),
        ("pyarrow==26.0.1; sys_platform == 'linux'", "pinned"),
        ("boto3==1.44.8", "runtime provides"),
        ("not a requirement ==", "unreadable"),
    ],
)
def test_read_pins_rejects_anything_but_exact_pins(tmp_path: Path, line: str, message: str) -> None:
    requirements = tmp_path / "requirements.txt"
    requirements.write_text(f"# comment\nhvac==2.4.0 {HASH_A}\n{line} {HASH_B}\n")
    with pytest.raises(BuildError, match=message):
        build_lambda.read_pins(requirements)


def test_read_pins_rejects_duplicates_and_normalises_names(tmp_path: Path) -> None:
    requirements = tmp_path / "requirements.txt"
    requirements.write_text(f"PyJWT==2.15.1 \\\n    {HASH_A}  # inline comment\n")
    assert build_lambda.read_pins(requirements) == {"pyjwt": "2.15.1"}
    requirements.write_text(f"PyJWT==2.15.1 {HASH_A}\npyjwt==2.15.1 {HASH_B}\n")
    with pytest.raises(BuildError, match="duplicate"):
        build_lambda.read_pins(requirements)


# --- hashed locks ------------------------------------------------------------------------


@pytest.mark.parametrize("function", build_lambda.FUNCTIONS)
def test_every_locked_requirement_carries_sha256_hashes(function: str) -> None:
    lock = build_lambda.read_lock(REPO_ROOT / "services" / function / "requirements.txt")
    assert lock
    for name, pin in lock.items():
        assert pin.hashes, name
        assert all(re.fullmatch(r"sha256:[0-9a-f]{64}", value) for value in pin.hashes), name
    # Every requirement line of the file is followed by its hashes (nothing read_lock skipped).
    text = (REPO_ROOT / "services" / function / "requirements.txt").read_text()
    requirement_lines = [line for line in text.splitlines() if re.match(r"^[A-Za-z0-9]", line)]
    assert len(requirement_lines) == len(lock)
    assert all(line.endswith(" \\") for line in requirement_lines)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("hvac==2.4.0\n", "no --hash"),
        ("hvac==2.4.0 --hash=md5:0123\n", "only add --hash=sha256"),
        ("hvac==2.4.0 --index-url=https://elsewhere.example/simple " + HASH_A + "\n", "only add --hash=sha256"),
        ("hvac==2.4.0 \\\n", "past the end"),
    ],
)
def test_read_lock_refuses_a_requirement_without_a_sha256(tmp_path: Path, text: str, message: str) -> None:
    lock = tmp_path / "requirements.txt"
    lock.write_text(text)
    with pytest.raises(BuildError, match=message):
        build_lambda.read_lock(lock)


def test_install_requires_hashes() -> None:
    source = Path(build_lambda.__file__).read_text()
    install = source[source.index("def install_dependencies") : source.index("def installed_dependencies")]
    assert '"--require-hashes"' in install
    assert '"--no-deps"' in install
    assert '"--only-binary=:all:"' in install


def requirements_in(function: str) -> set[str]:
    text = (REPO_ROOT / "services" / function / "requirements.in").read_text()
    lines = [line.split("#", 1)[0].strip() for line in text.splitlines()]
    return {canonicalize_name(line) for line in lines if line}


@pytest.mark.parametrize("function", build_lambda.FUNCTIONS)
def test_lock_is_consistent_with_requirements_in(function: str) -> None:
    text = (REPO_ROOT / "services" / function / "requirements.txt").read_text()
    locked = lock_lambda.parse_lock(text)
    direct = requirements_in(function)
    assert "make lock" in text.splitlines()[1]
    # What requirements.in names is locked as a direct requirement, and nothing else is.
    assert {name for name, package in locked.items() if "-r" in package.via} == direct
    # Everything else is needed by a locked package or by the runtime's botocore, and at
    # least one locked package needs it (the rest ship with the runtime).
    for name, package in locked.items():
        parents = package.via - {"-r"}
        assert parents <= set(locked) | set(lock_lambda.NOT_LOCKED), name
        assert name in direct or parents & set(locked), name
    assert set(locked) == set(build_lambda.read_pins(REPO_ROOT / "services" / function / "requirements.txt"))
    assert direct.isdisjoint(lock_lambda.NOT_LOCKED)


UV_LOCK = """\
# This file was autogenerated by uv via the following command:
#    make lock
jmespath==1.1.0 \\
    --hash=sha256:{a}
    # via
    #   -c constraints.txt
    #   botocore
requests==2.34.2 \\
    --hash=sha256:{a}
    # via -r services/replication/requirements.in
urllib3==2.8.0 \\
    --hash=sha256:{a}
    # via
    #   botocore
    #   requests

# The following packages were excluded from the output:
# botocore
""".format(a="a" * 64)


def test_prune_drops_what_only_the_runtimes_botocore_needs() -> None:
    pruned = lock_lambda.prune(UV_LOCK)

    assert set(lock_lambda.parse_lock(pruned)) == {"requests", "urllib3"}  # requests needs urllib3
    assert pruned.startswith("# This file was autogenerated by uv via the following command:\n#    make lock\n")
    assert "\n# jmespath\n" in pruned.split("# Left out", 1)[1]
    without_requests = UV_LOCK.replace("    #   requests\n", "")
    assert set(lock_lambda.parse_lock(lock_lambda.prune(without_requests))) == {"requests"}


# --- dependency closure ------------------------------------------------------------------


def test_unmet_requirements_reports_missing_and_wrong_versions() -> None:
    installed = {
        "requests": Dependency("requests", "2.34.2", ("urllib3<3,>=1.21.1", "idna<4,>=2.5")),
        "urllib3": Dependency("urllib3", "3.0.0", ()),
    }
    unmet = build_lambda.unmet_requirements(installed, ARM64, "3.12")
    assert unmet == [
        "requests needs urllib3<3,>=1.21.1 (have 3.0.0)",
        "requests needs idna<4,>=2.5 (have missing)",
    ]


def test_unmet_requirements_evaluates_markers_for_the_lambda_not_this_machine() -> None:
    installed = {
        "thing": Dependency(
            "thing",
            "1.0",
            (
                "boto3>=1.0",  # the runtime provides it
                'pywin32; sys_platform == "win32"',
                'pandas; extra == "pandas"',
                'backport; python_version < "3.12"',  # true here on 3.11, false on the Lambda
                'arm-only; platform_machine == "aarch64"',
            ),
        )
    }
    assert build_lambda.unmet_requirements(installed, ARM64, "3.12") == [
        'thing needs arm-only; platform_machine == "aarch64" (have missing)'
    ]
    assert build_lambda.unmet_requirements(installed, ARCHITECTURES["x86_64"], "3.12") == []


# --- stripping ---------------------------------------------------------------------------

PYARROW_FILES = {
    "pyarrow/__init__.py": False,
    "pyarrow/lib.cpython-312-aarch64-linux-gnu.so": False,
    "pyarrow/_parquet.cpython-312-aarch64-linux-gnu.so": False,
    "pyarrow/_csv.cpython-312-aarch64-linux-gnu.so": False,
    "pyarrow/_compute.cpython-312-aarch64-linux-gnu.so": False,
    "pyarrow/_fs.cpython-312-aarch64-linux-gnu.so": False,
    "pyarrow/libarrow.so.2600": False,
    "pyarrow/libarrow_python.so.2600": False,
    "pyarrow/libarrow_substrait.so.2600": False,
    "pyarrow/libarrow_python.so": True,
    "pyarrow/libarrow_python.so.2600.1.0": True,
    "pyarrow/libarrow_flight.so.2600": True,
    "pyarrow/libarrow_python_flight.so.2600": True,
    "pyarrow/_flight.cpython-312-aarch64-linux-gnu.so": True,
    "pyarrow/flight.py": True,
    "pyarrow/libarrow_s3.so.2600": True,
    "pyarrow/_s3fs.cpython-312-aarch64-linux-gnu.so": True,
    "pyarrow/include/arrow/api.h": True,
    "pyarrow/lib.pyx": True,
    "pyarrow/tests/test_array.py": True,
    "pyarrow/_pyarrow_cpp_tests.cpython-312-aarch64-linux-gnu.so": True,
    "pyarrow/__pycache__/__init__.cpython-311.pyc": True,
    "pyarrow-26.0.1.dist-info/METADATA": False,
    "pyarrow-26.0.1.dist-info/RECORD": True,
    "pyarrow-26.0.1.dist-info/INSTALLER": True,
    "bin/normalizer": True,
    "certifi/cacert.pem": False,
}


def test_strip_unused_removes_exactly_what_the_product_never_loads(tmp_path: Path) -> None:
    for relative in PYARROW_FILES:
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / relative).write_bytes(b"x" * 10)

    report = build_lambda.strip_unused(tmp_path)

    kept = {relative for relative, _ in build_lambda.relative_files(tmp_path)}
    assert kept == {relative for relative, stripped in PYARROW_FILES.items() if not stripped}
    assert sum(report.bytes_by_rule.values()) == 10 * sum(PYARROW_FILES.values())
    assert report.bytes_by_rule["arrow-flight"] == 40
    assert "libarrow_s3.so.2600" in report.removed_names
    assert not (tmp_path / "pyarrow" / "include").exists()  # emptied directories go too
    assert not (tmp_path / "bin").exists()


def test_stripped_features_used_names_the_rule_and_file(tmp_path: Path) -> None:
    clean = tmp_path / "clean.py"
    clean.write_text("import pyarrow.parquet as pq\nimport pyarrow.fs\n")
    uses_s3 = tmp_path / "uses_s3.py"
    uses_s3.write_text("from pyarrow.fs import S3FileSystem\n")
    assert build_lambda.stripped_features_used([clean]) == []
    assert build_lambda.stripped_features_used([clean, uses_s3]) == [f"arrow-s3-filesystem: {uses_s3}"]


# --- ELF ---------------------------------------------------------------------------------


def this_interpreters_extension() -> Path:
    """A real ELF shared object of this machine: a standard library extension that links
    another shared library."""
    suffix = sysconfig.get_config_var("EXT_SUFFIX")
    for path in sorted(Path(sysconfig.get_config_var("DESTSHARED")).glob(f"*{suffix}")):
        info = build_lambda.read_elf(path)
        if info is not None and info.needed:
            return path
    pytest.skip("this interpreter has no extension module files")


def test_read_elf_reads_machine_and_needed_libraries() -> None:
    info = build_lambda.read_elf(this_interpreters_extension())
    assert info is not None
    assert info.machine == {"x86_64": "x86_64", "aarch64": "aarch64"}[os.uname().machine]
    assert any(name.startswith("lib") and ".so" in name for name in info.needed)


def test_read_elf_ignores_other_files(tmp_path: Path) -> None:
    text = tmp_path / "module.py"
    text.write_text("print('hi')\n")
    assert build_lambda.read_elf(text) is None
    assert build_lambda.read_elf(Path(sys.executable).resolve()) is not None


def test_elf_problems_flags_wrong_machine_and_removed_needed_library(tmp_path: Path) -> None:
    extension = this_interpreters_extension()
    info = build_lambda.read_elf(extension)
    assert info is not None
    (tmp_path / extension.name).write_bytes(extension.read_bytes())
    this_machine = next(a for a in ARCHITECTURES.values() if a.machine == info.machine)
    other_machine = next(a for a in ARCHITECTURES.values() if a.machine != info.machine)

    assert build_lambda.elf_problems(tmp_path, this_machine, set()) == []
    assert build_lambda.elf_problems(tmp_path, other_machine, set()) == [
        f"{extension.name} is built for {info.machine}, not {other_machine.machine}"
    ]
    assert build_lambda.elf_problems(tmp_path, this_machine, {info.needed[0]}) == [
        f"{extension.name} needs removed {info.needed[0]}"
    ]


# --- zip ---------------------------------------------------------------------------------


def make_tree(root: Path, order: list[str], mtime: int) -> None:
    for relative in order:
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"content of {relative}\n")
        os.utime(path, (mtime, mtime))
    (root / "bin_tool").chmod(0o750)
    (root / "b" / "data.txt").chmod(0o600)


def test_zip_bytes_depend_only_on_content(tmp_path: Path) -> None:
    files = ["handler.py", "b/data.txt", "a/z.py", "a/__init__.py", "bin_tool"]
    make_tree(tmp_path / "one", files, mtime=1_700_000_000)
    make_tree(tmp_path / "two", list(reversed(files)), mtime=1_800_000_000)

    build_lambda.write_reproducible_zip(tmp_path / "one", tmp_path / "one.zip")
    build_lambda.write_reproducible_zip(tmp_path / "two", tmp_path / "two.zip")

    assert (tmp_path / "one.zip").read_bytes() == (tmp_path / "two.zip").read_bytes()
    with zipfile.ZipFile(tmp_path / "one.zip") as archive:
        infos = archive.infolist()
    assert [info.filename for info in infos] == sorted(files)
    assert {info.date_time for info in infos} == {(1980, 1, 1, 0, 0, 0)}
    modes = {info.filename: stat.S_IMODE(info.external_attr >> 16) for info in infos}
    assert modes == {name: 0o755 if name == "bin_tool" else 0o644 for name in files}


def test_zip_uses_source_date_epoch_and_changes_bytes_with_content(tmp_path: Path) -> None:
    make_tree(tmp_path / "tree", ["handler.py", "b/data.txt", "bin_tool"], mtime=0)
    build_lambda.write_reproducible_zip(tmp_path / "tree", tmp_path / "dated.zip", 1_700_000_000)
    with zipfile.ZipFile(tmp_path / "dated.zip") as archive:
        assert {info.date_time for info in archive.infolist()} == {(2023, 11, 14, 22, 13, 20)}

    build_lambda.write_reproducible_zip(tmp_path / "tree", tmp_path / "before.zip")
    (tmp_path / "tree" / "handler.py").write_text("changed\n")
    build_lambda.write_reproducible_zip(tmp_path / "tree", tmp_path / "after.zip")
    assert build_lambda.sha256_of(tmp_path / "before.zip") != build_lambda.sha256_of(tmp_path / "after.zip")
    assert not list(tmp_path.glob("*.partial"))


# --- product code ------------------------------------------------------------------------


def test_copy_shared_package_copies_the_production_package_whole(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    for relative in [
        "aurora_batch/__init__.py",
        "aurora_batch/model.py",
        "aurora_batch/py.typed",
        "aurora_batch/adapters/s3.py",
        "aurora_batch/cli.py",
        "aurora_batch/__pycache__/model.cpython-311.pyc",
        "aurora_batch/adapters/__pycache__/s3.cpython-311.pyc",
        "aurora_batch_dev/__init__.py",
        "aurora_batch_dev/stack.py",
    ]:
        (repo / "shared" / relative).parent.mkdir(parents=True, exist_ok=True)
        (repo / "shared" / relative).write_text("")
    package = tmp_path / "package"

    build_lambda.copy_shared_package(repo, package)

    # No deny-list: everything in the production package but bytecode; never the dev package.
    assert {relative for relative, _ in build_lambda.relative_files(package)} == {
        "aurora_batch/__init__.py",
        "aurora_batch/model.py",
        "aurora_batch/py.typed",
        "aurora_batch/adapters/s3.py",
        "aurora_batch/cli.py",
    }


def test_the_production_package_holds_no_development_code() -> None:
    shared = REPO_ROOT / "shared" / "aurora_batch"
    assert not (shared / "devstack").exists(), "development code belongs in shared/aurora_batch_dev"
    development = ("aurora_batch_dev", "fakesnow", "moto", "duckdb")
    imports = re.compile(rf"^\s*(?:from|import)\s+({'|'.join(development)})\b", re.MULTILINE)
    offending = {
        path.relative_to(shared).as_posix(): imports.findall(path.read_text())
        for path in shared.rglob("*.py")
        if path.name != "cli.py"  # offers `stack` and `demo` only when aurora_batch_dev is installed
    }
    assert {path: found for path, found in offending.items() if found} == {}


def test_copy_service_refuses_to_shadow_a_dependency(tmp_path: Path) -> None:
    service = tmp_path / "repo" / "services" / "s3_cleanup"
    service.mkdir(parents=True)
    (service / "handler.py").write_text("")
    (service / "requests.py").write_text("")
    package = tmp_path / "package"
    (package / "requests").mkdir(parents=True)

    with pytest.raises(BuildError, match="shadow"):
        build_lambda.copy_service(tmp_path / "repo", "s3_cleanup", package)


def test_copy_service_requires_a_handler(tmp_path: Path) -> None:
    (tmp_path / "services" / "s3_cleanup").mkdir(parents=True)
    with pytest.raises(BuildError, match=r"no handler\.py"):
        build_lambda.copy_service(tmp_path, "s3_cleanup", tmp_path / "package")


def test_git_sha_is_unknown_outside_a_repository(tmp_path: Path) -> None:
    assert build_lambda.git_sha(tmp_path) == "unknown"

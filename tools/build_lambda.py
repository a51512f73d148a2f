"""Build one Lambda deployment zip per function: dist/<function>.zip.

A zip holds, at its root:
- the function's `handler.py` (and any other module in services/<function>/), so the Lambda
  handler string is `handler.lambda_handler`;
- the shared `aurora_batch` package, whole (development code is the separate
  `aurora_batch_dev` package, which no zip holds);
- that function's own dependencies from the lock services/<function>/requirements.txt
  (`make lock`, with every wheel's sha256), installed with --require-hashes as manylinux
  wheels for the Lambda runtime (CPython 3.12, arm64 by default);
- `aurora_batch_manifest.json`: function, version, git SHA, architecture, dependencies.

boto3, botocore and s3transfer are left out: the Lambda runtime provides them. The locks
are fully resolved and installed with --no-deps, and the build fails if any installed
distribution needs something that is neither in the zip nor runtime-provided.

Size: Lambda allows 250 MB unzipped, and pyarrow alone is about 170 MB. The build deletes
what the product never loads (Arrow Flight, pyarrow's S3 filesystem, C++ headers, Cython
sources, tests, link-time copies of shared libraries), refuses to build if the shipped
product code names a stripped feature, and checks that no remaining shared library needs a
deleted one and that every shared library is built for the target architecture.

Reproducible: entries are sorted, timestamps fixed (1980-01-01, or --source-date-epoch),
permissions normalised, no bytecode and no install records, so the same inputs give the
same bytes.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.metadata
import json
import os
import re
import shutil
import stat
import struct
import subprocess
import sys
import tempfile
import time
import tomllib
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aurora_batch.errors import PermanentError
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

REPO_ROOT = Path(__file__).resolve().parent.parent
FUNCTIONS = ("replication", "s3_cleanup", "watermark_admin")
LAMBDA_PYTHON_VERSION = "3.12"
HANDLER = "handler.lambda_handler"
MANIFEST_NAME = "aurora_batch_manifest.json"
# Lambda's limit on a function's unzipped deployment package (250 MiB).
UNZIPPED_LIMIT_BYTES = 262_144_000
# 1980-01-01T00:00:00Z: the earliest time a zip entry can record.
ZIP_EPOCH = 315_532_800
# Provided by the Lambda Python runtime, so never shipped. Their own dependencies
# (python-dateutil, six, jmespath, urllib3) need no entry: nothing else is checked for them.
RUNTIME_PROVIDED = frozenset({"boto3", "botocore", "s3transfer"})

ELF_MACHINES = {62: "x86_64", 183: "aarch64"}


@dataclass(frozen=True)
class Architecture:
    lambda_name: str  # as Lambda's `Architectures` spells it
    machine: str  # platform_machine / ELF machine
    pip_platforms: tuple[str, ...]


# The python3.12 runtime runs Amazon Linux 2023 (glibc 2.34), so manylinux_2_28 wheels fit.
ARCHITECTURES = {
    "arm64": Architecture("arm64", "aarch64", ("manylinux_2_28_aarch64", "manylinux2014_aarch64")),
    "x86_64": Architecture("x86_64", "x86_64", ("manylinux_2_28_x86_64", "manylinux2014_x86_64")),
}


@dataclass(frozen=True)
class StripRule:
    """Files deleted from the installed dependencies, matched by regex on the POSIX path
    relative to the package root. `used_if` lists strings that, found in shipped product
    code, mean the product does use what the rule deletes."""

    name: str
    patterns: tuple[str, ...]
    used_if: tuple[str, ...] = ()

    def matches(self, relative_path: str) -> bool:
        return any(re.fullmatch(pattern, relative_path) for pattern in self.patterns)


STRIP_RULES = (
    StripRule("bytecode", (r".*/__pycache__/.*", r".*\.py[co]")),
    # RECORD lists hashes that stripping makes false; bin/ holds scripts whose shebang
    # names the build machine's interpreter.
    StripRule(
        "install-records",
        (r"[^/]+\.dist-info/(RECORD|INSTALLER|REQUESTED|direct_url\.json)", r"bin/.*"),
    ),
    StripRule(
        "sources-and-headers",
        (r".*\.(pyx|pxd|pxi|h|hh|hpp|c|cc|cpp)", r"pyarrow/include/.*", r"pyarrow/src/.*"),
    ),
    StripRule("tests", (r"pyarrow/tests/.*", r"pyarrow/_pyarrow_cpp_tests\..*")),
    StripRule(
        "arrow-flight",
        (
            r"pyarrow/libarrow_flight\.so.*",
            r"pyarrow/libarrow_python_flight\.so.*",
            r"pyarrow/_flight\..*",
            r"pyarrow/flight\.py",
        ),
        used_if=("pyarrow.flight", "pyarrow._flight"),
    ),
    # Staged parts are uploaded with boto3, not through Arrow's own S3 client.
    StripRule(
        "arrow-s3-filesystem",
        (r"pyarrow/libarrow_s3\.so.*", r"pyarrow/_s3fs\..*"),
        used_if=("S3FileSystem", "pyarrow._s3fs", "initialize_s3", "ensure_s3_initialized"),
    ),
    # Wheels cannot hold symlinks, so libfoo.so and libfoo.so.X.Y.Z are full copies of
    # libfoo.so.X, which is the only name the dynamic loader asks for.
    StripRule(
        "link-time-copies",
        (r"pyarrow/lib[A-Za-z0-9_]+\.so", r"pyarrow/lib[A-Za-z0-9_]+\.so\.\d+\.\d+\.\d+"),
    ),
)


class BuildError(PermanentError):
    """The artifact cannot be built as configured (bad pin, missing file, size, broken strip)."""


@dataclass(frozen=True)
class Dependency:
    name: str  # canonical (PEP 503) name
    version: str
    requires: tuple[str, ...]


@dataclass
class StripReport:
    bytes_by_rule: dict[str, int] = field(default_factory=dict)
    removed_names: set[str] = field(default_factory=set)  # basenames, to check DT_NEEDED


@dataclass(frozen=True)
class BuildResult:
    function: str
    arch: str
    zip_path: Path
    sha256: str
    file_count: int
    dependency_bytes: int  # as pip installed them, before stripping
    stripped_bytes_by_rule: dict[str, int]
    unzipped_bytes: int
    zipped_bytes: int
    seconds: float
    manifest: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {
            "function": self.function,
            "arch": self.arch,
            "zip": str(self.zip_path),
            "sha256": self.sha256,
            "files": self.file_count,
            "dependency_bytes": self.dependency_bytes,
            "stripped_bytes": sum(self.stripped_bytes_by_rule.values()),
            "stripped_bytes_by_rule": dict(sorted(self.stripped_bytes_by_rule.items())),
            "unzipped_bytes": self.unzipped_bytes,
            "zipped_bytes": self.zipped_bytes,
            "seconds": round(self.seconds, 1),
        }


# --- inputs ------------------------------------------------------------------------------


HASH_OPTION = re.compile(r"^--hash=sha256:[0-9a-f]{64}$")


@dataclass(frozen=True)
class Pin:
    version: str
    hashes: tuple[str, ...]  # `sha256:<hex>` of every wheel pip may pick


def logical_lines(requirements: Path) -> Iterator[tuple[int, str]]:
    """(first line number, text) of each requirement, continuation lines joined and
    comments (a `#` at the start or after whitespace, as pip reads them) removed."""
    pending: list[str] = []
    start = 0
    for number, raw in enumerate(requirements.read_text(encoding="utf-8").splitlines(), start=1):
        line = re.split(r"(?:^|\s)#", raw, maxsplit=1)[0].rstrip()
        if not pending:
            start = number
        if line.endswith("\\"):
            pending.append(line[:-1])
            continue
        text = " ".join([*pending, line]).strip()
        pending = []
        if text:
            yield start, text
    if pending:
        raise BuildError("the last requirement continues past the end of the file", file=str(requirements))


def read_lock(requirements: Path) -> dict[str, Pin]:
    """Canonical name -> pin for a lock in which every requirement is `name==x.y` followed by
    one or more `--hash=sha256:...` (what `make lock` writes)."""
    pins: dict[str, Pin] = {}
    for number, text in logical_lines(requirements):
        requirement_text, *options = re.split(r"\s+(?=--)", text)
        hashes = tuple(option.removeprefix("--hash=") for option in options if HASH_OPTION.match(option))
        if len(hashes) != len(options):
            raise BuildError("a lock line may only add --hash=sha256:<hex>", file=str(requirements), line=number)
        try:
            requirement = Requirement(requirement_text)
        except InvalidRequirement as exc:
            raise BuildError("unreadable requirement", file=str(requirements), line=number) from exc
        specifiers = list(requirement.specifier)
        if (
            len(specifiers) != 1
            or specifiers[0].operator != "=="
            or "*" in specifiers[0].version
            or requirement.marker is not None
            or requirement.url is not None
        ):
            raise BuildError("requirement must be pinned as name==version", file=str(requirements), line=number)
        name = canonicalize_name(requirement.name)
        if name in RUNTIME_PROVIDED:
            raise BuildError(
                "the Lambda runtime provides this package; do not ship it",
                file=str(requirements),
                package=name,
            )
        if not hashes:
            raise BuildError("requirement carries no --hash (run make lock)", file=str(requirements), package=name)
        if name in pins:
            raise BuildError("duplicate requirement", file=str(requirements), package=name)
        pins[name] = Pin(specifiers[0].version, hashes)
    return pins


def read_pins(requirements: Path) -> dict[str, str]:
    """Canonical name -> version of a lock (see read_lock)."""
    return {name: pin.version for name, pin in read_lock(requirements).items()}


def project_version(repo_root: Path) -> str:
    with (repo_root / "pyproject.toml").open("rb") as handle:
        return str(tomllib.load(handle)["project"]["version"])


def git_sha(repo_root: Path) -> str:
    try:
        completed = subprocess.run(
            ["git", "-C", str(repo_root), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            check=False,
        )
    except FileNotFoundError:
        return "unknown"
    sha = completed.stdout.strip()
    return sha if completed.returncode == 0 and re.fullmatch(r"[0-9a-f]{40}", sha) else "unknown"


# --- dependencies ------------------------------------------------------------------------


def install_dependencies(requirements: Path, target: Path, arch: Architecture, python_version: str) -> None:
    """pip-install the locked wheels for the Lambda platform into `target`; pip refuses any
    wheel whose sha256 the lock does not list. pip's download cache is used as usual, so
    rebuilding does not download again."""
    command = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
        "--no-deps",
        "--require-hashes",
        "--no-compile",
        "--only-binary=:all:",
        "--implementation",
        "cp",
        "--python-version",
        python_version,
        *(f"--platform={platform}" for platform in arch.pip_platforms),
        "--target",
        str(target),
        "--requirement",
        str(requirements),
    ]
    completed = subprocess.run(command, capture_output=True, text=True, check=False)
    if completed.returncode != 0:
        raise BuildError(
            "pip could not install the function's dependencies",
            requirements=str(requirements),
            arch=arch.lambda_name,
            pip_output=completed.stderr.strip()[-2000:],
        )


def installed_dependencies(target: Path) -> dict[str, Dependency]:
    found: dict[str, Dependency] = {}
    for distribution in importlib.metadata.distributions(path=[str(target)]):
        name = canonicalize_name(distribution.metadata["Name"])
        found[name] = Dependency(name, distribution.version, tuple(distribution.requires or ()))
    return found


def marker_environment(arch: Architecture, python_version: str) -> dict[str, str]:
    """PEP 508 marker values for the Lambda runtime, not for the machine running the build."""
    return {
        "implementation_name": "cpython",
        "implementation_version": f"{python_version}.0",
        "os_name": "posix",
        "platform_machine": arch.machine,
        "platform_python_implementation": "CPython",
        "platform_release": "",
        "platform_system": "Linux",
        "platform_version": "",
        "python_full_version": f"{python_version}.0",
        "python_version": python_version,
        "sys_platform": "linux",
        "extra": "",
    }


def unmet_requirements(installed: dict[str, Dependency], arch: Architecture, python_version: str) -> list[str]:
    """Every requirement of an installed distribution that the zip plus runtime do not meet."""
    environment = marker_environment(arch, python_version)
    unmet: list[str] = []
    for dependency in sorted(installed.values(), key=lambda d: d.name):
        for text in dependency.requires:
            requirement = Requirement(text)
            if requirement.marker is not None and not requirement.marker.evaluate(environment):
                continue
            name = canonicalize_name(requirement.name)
            if name in RUNTIME_PROVIDED:
                continue
            present = installed.get(name)
            if present is None or not requirement.specifier.contains(Version(present.version), prereleases=True):
                have = present.version if present else "missing"
                unmet.append(f"{dependency.name} needs {requirement} (have {have})")
    return unmet


# --- stripping ---------------------------------------------------------------------------


def relative_files(root: Path) -> Iterator[tuple[str, Path]]:
    """(POSIX relative path, path) of every file under root, sorted by relative path."""
    files = [path for path in root.rglob("*") if path.is_file() or path.is_symlink()]
    for path in sorted(files, key=lambda p: p.relative_to(root).as_posix()):
        yield path.relative_to(root).as_posix(), path


def strip_unused(target: Path, rules: Sequence[StripRule] = STRIP_RULES) -> StripReport:
    report = StripReport()
    for relative, path in list(relative_files(target)):
        rule = next((r for r in rules if r.matches(relative)), None)
        if rule is None:
            continue
        report.bytes_by_rule[rule.name] = report.bytes_by_rule.get(rule.name, 0) + path.lstat().st_size
        report.removed_names.add(path.name)
        path.unlink()
    remove_empty_directories(target)
    return report


def remove_empty_directories(root: Path) -> None:
    for directory in sorted((p for p in root.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)):
        if not any(directory.iterdir()):
            directory.rmdir()


def stripped_features_used(product_files: Iterable[Path], rules: Sequence[StripRule] = STRIP_RULES) -> list[str]:
    """`rule: file` for each shipped product file that names a feature the build strips."""
    used: list[str] = []
    for path in product_files:
        text = path.read_text(encoding="utf-8")
        used.extend(f"{rule.name}: {path}" for rule in rules for token in rule.used_if if token in text)
    return used


# --- ELF checks --------------------------------------------------------------------------

_SHT_DYNAMIC = 6
_DT_NULL = 0
_DT_NEEDED = 1


@dataclass(frozen=True)
class ElfInfo:
    machine: str
    needed: tuple[str, ...]


def read_elf(path: Path) -> ElfInfo | None:
    """Machine and DT_NEEDED entries of a 64-bit little-endian ELF file; None if not ELF."""
    with path.open("rb") as handle:
        ident = handle.read(16)
        if len(ident) < 16 or ident[:4] != b"\x7fELF":
            return None
        if ident[4] != 2 or ident[5] != 1:
            raise BuildError("expected a 64-bit little-endian ELF file", file=str(path))
        header = handle.read(48)
        fields = struct.unpack("<HHIQQQIHHHHHH", header)
        machine_code, section_offset, section_size, section_count = (
            fields[1],
            fields[5],
            fields[10],
            fields[11],
        )
        handle.seek(section_offset)
        sections = [struct.unpack("<IIQQQQIIQQ", handle.read(section_size)[:64]) for _ in range(section_count)]

        def read_at(offset: int, size: int) -> bytes:
            handle.seek(offset)
            return handle.read(size)

        needed: list[str] = []
        for section in sections:
            if section[1] != _SHT_DYNAMIC:
                continue
            strings_section = sections[section[6]]
            strings = read_at(strings_section[4], strings_section[5])
            dynamic = read_at(section[4], section[5])
            for tag, value in struct.iter_unpack("<qQ", dynamic[: len(dynamic) // 16 * 16]):
                if tag == _DT_NULL:
                    break
                if tag == _DT_NEEDED:
                    needed.append(strings[value : strings.index(b"\0", value)].decode())
    return ElfInfo(ELF_MACHINES.get(machine_code, f"e_machine={machine_code}"), tuple(needed))


def elf_problems(target: Path, arch: Architecture, removed_names: set[str]) -> list[str]:
    """Shared libraries built for another machine, or needing a library the build removed."""
    problems: list[str] = []
    for relative, path in relative_files(target):
        info = read_elf(path)
        if info is None:
            continue
        if info.machine != arch.machine:
            problems.append(f"{relative} is built for {info.machine}, not {arch.machine}")
        problems.extend(f"{relative} needs removed {library}" for library in info.needed if library in removed_names)
    return problems


# --- product code ------------------------------------------------------------------------


def copy_shared_package(repo_root: Path, target: Path) -> list[Path]:
    """The whole production package (development code lives in the sibling aurora_batch_dev,
    which is never copied), without bytecode."""
    source = repo_root / "shared" / "aurora_batch"
    if not (source / "__init__.py").is_file():
        raise BuildError("shared package not found", path=str(source))
    copied: list[Path] = []
    for relative, path in relative_files(source):
        if "__pycache__" in relative.split("/") or path.suffix in {".pyc", ".pyo"}:
            continue
        destination = target / "aurora_batch" / relative
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, destination)
        copied.append(destination)
    return copied


def copy_service(repo_root: Path, function: str, target: Path) -> list[Path]:
    service = repo_root / "services" / function
    if not (service / "handler.py").is_file():
        raise BuildError("the function has no handler.py", function=function, path=str(service))
    copied: list[Path] = []
    for path in sorted(service.glob("*.py")):
        destination = target / path.name
        if destination.exists() or (target / path.stem).exists():
            raise BuildError("a service module would shadow a shipped package", function=function, module=path.name)
        shutil.copyfile(path, destination)
        copied.append(destination)
    return copied


def manifest(
    function: str,
    *,
    version: str,
    sha: str,
    arch: Architecture,
    python_version: str,
    dependencies: dict[str, Dependency],
    stripped: StripReport,
) -> dict[str, Any]:
    return {
        "function": function,
        "package": "aurora-batch",
        "version": version,
        "git_sha": sha,
        "handler": HANDLER,
        "runtime": f"python{python_version}",
        "arch": arch.lambda_name,
        "platforms": list(arch.pip_platforms),
        "dependencies": {name: dependencies[name].version for name in sorted(dependencies)},
        "runtime_provided": sorted(RUNTIME_PROVIDED),
        "stripped": sorted(stripped.bytes_by_rule),
    }


# --- zip ---------------------------------------------------------------------------------


def zip_date_time(source_date_epoch: int) -> tuple[int, int, int, int, int, int]:
    year, month, day, hour, minute, second = time.gmtime(max(source_date_epoch, ZIP_EPOCH))[:6]
    return (year, month, day, hour, minute, second)


def write_reproducible_zip(source: Path, zip_path: Path, source_date_epoch: int = ZIP_EPOCH) -> None:
    """Zip every file under `source`: sorted, one timestamp, normalised modes, no directories."""
    date_time = zip_date_time(source_date_epoch)
    partial = zip_path.with_name(zip_path.name + ".partial")
    with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for relative, path in relative_files(source):
            if path.is_symlink():
                raise BuildError("symlinks cannot be shipped", path=relative)
            info = zipfile.ZipInfo(relative, date_time=date_time)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3  # Unix, so external_attr holds the mode
            mode = 0o755 if path.stat().st_mode & 0o111 else 0o644
            info.external_attr = (stat.S_IFREG | mode) << 16
            info.file_size = path.stat().st_size
            with path.open("rb") as reader, archive.open(info, "w") as writer:
                shutil.copyfileobj(reader, writer, 1 << 20)
    os.replace(partial, zip_path)


def tree_bytes(root: Path) -> int:
    return sum(path.stat().st_size for _, path in relative_files(root))


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# --- build -------------------------------------------------------------------------------


def build_function(
    function: str,
    *,
    arch: Architecture,
    out_dir: Path,
    repo_root: Path = REPO_ROOT,
    python_version: str = LAMBDA_PYTHON_VERSION,
    source_date_epoch: int = ZIP_EPOCH,
) -> BuildResult:
    started = time.monotonic()
    requirements = repo_root / "services" / function / "requirements.txt"
    if not requirements.is_file():
        raise BuildError("the function has no requirements.txt", function=function)
    pins = read_pins(requirements)
    with tempfile.TemporaryDirectory(prefix=f"aurora-batch-{function}-") as work:
        package = Path(work) / "package"
        if pins:
            install_dependencies(requirements, package, arch, python_version)
        package.mkdir(exist_ok=True)
        dependency_bytes = tree_bytes(package)
        dependencies = installed_dependencies(package)
        if set(dependencies) != set(pins):
            raise BuildError(
                "installed distributions differ from the requirements",
                function=function,
                extra=sorted(set(dependencies) - set(pins)),
                missing=sorted(set(pins) - set(dependencies)),
            )
        unmet = unmet_requirements(dependencies, arch, python_version)
        if unmet:
            raise BuildError("requirements.txt is not fully resolved", function=function, unmet=unmet)

        stripped = strip_unused(package)
        problems = elf_problems(package, arch, stripped.removed_names)
        if problems:
            raise BuildError("shared libraries are broken", function=function, problems=problems)

        product = copy_shared_package(repo_root, package) + copy_service(repo_root, function, package)
        used = stripped_features_used(path for path in product if path.suffix == ".py")
        if used:
            raise BuildError("product code uses a feature the build strips", function=function, used=used)

        document = manifest(
            function,
            version=project_version(repo_root),
            sha=git_sha(repo_root),
            arch=arch,
            python_version=python_version,
            dependencies=dependencies,
            stripped=stripped,
        )
        (package / MANIFEST_NAME).write_text(json.dumps(document, indent=2, sort_keys=True) + "\n")

        unzipped_bytes = tree_bytes(package)
        file_count = sum(1 for _ in relative_files(package))
        if unzipped_bytes >= UNZIPPED_LIMIT_BYTES:
            raise BuildError(
                "the function is over Lambda's unzipped size limit",
                function=function,
                unzipped_bytes=unzipped_bytes,
                limit_bytes=UNZIPPED_LIMIT_BYTES,
            )
        out_dir.mkdir(parents=True, exist_ok=True)
        zip_path = out_dir / f"{function}.zip"
        write_reproducible_zip(package, zip_path, source_date_epoch)
    return BuildResult(
        function=function,
        arch=arch.lambda_name,
        zip_path=zip_path,
        sha256=sha256_of(zip_path),
        file_count=file_count,
        dependency_bytes=dependency_bytes,
        stripped_bytes_by_rule=dict(stripped.bytes_by_rule),
        unzipped_bytes=unzipped_bytes,
        zipped_bytes=zip_path.stat().st_size,
        seconds=time.monotonic() - started,
        manifest=document,
    )


def format_table(results: Sequence[BuildResult]) -> str:
    def mb(value: int) -> str:
        return f"{value / 1_000_000:.1f}"

    rows = [("function", "arch", "files", "deps MB", "stripped MB", "unzipped MB", "zipped MB", "seconds")]
    rows += [
        (
            r.function,
            r.arch,
            str(r.file_count),
            mb(r.dependency_bytes),
            mb(sum(r.stripped_bytes_by_rule.values())),
            mb(r.unzipped_bytes),
            mb(r.zipped_bytes),
            f"{r.seconds:.1f}",
        )
        for r in results
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.rjust(width) for cell, width in zip(row, widths, strict=True)) for row in rows]
    lines.append(f"limit: {mb(UNZIPPED_LIMIT_BYTES)} MB unzipped per function")
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="build_lambda", description=__doc__.split("\n\n")[0] if __doc__ else "")
    parser.add_argument("--arch", choices=sorted(ARCHITECTURES), default="arm64")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "dist", help="output directory")
    parser.add_argument("--function", action="append", choices=FUNCTIONS, help="build only this function (repeatable)")
    parser.add_argument("--python-version", default=LAMBDA_PYTHON_VERSION)
    parser.add_argument(
        "--repo-root", type=Path, default=REPO_ROOT, help="where shared/, services/ and pyproject.toml are"
    )
    parser.add_argument(
        "--source-date-epoch",
        type=int,
        default=ZIP_EPOCH,
        help="timestamp of every zip entry, seconds since the epoch (clamped to 1980-01-01)",
    )
    parser.add_argument("--json", action="store_true", help="print the build report as JSON")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    arch = ARCHITECTURES[args.arch]
    results: list[BuildResult] = []
    try:
        for function in args.function or FUNCTIONS:
            results.append(
                build_function(
                    function,
                    arch=arch,
                    out_dir=args.out,
                    repo_root=args.repo_root,
                    python_version=args.python_version,
                    source_date_epoch=args.source_date_epoch,
                )
            )
    except BuildError as exc:
        print(f"build failed: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps([result.to_dict() for result in results], indent=2))
    else:
        print(format_table(results))
        for result in results:
            print(f"{result.sha256}  {result.zip_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

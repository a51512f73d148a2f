"""Lock each Lambda's dependencies with hashes: services/<function>/requirements.in ->
services/<function>/requirements.txt, by `uv pip compile --generate-hashes`.

The lock is resolved for the Lambda runtime (CPython 3.12, manylinux) with the versions in
constraints.txt, so the zips ship what the tests ran. It is resolved once per architecture
and must come out the same for both (it lists every wheel's hash, so one file serves arm64
and x86_64); if a dependency ever differs by platform, locking fails rather than guess.

Left out of every lock: what the Lambda runtime provides (boto3, botocore, s3transfer) and
what only botocore needs (python-dateutil, six). tools/build_lambda.py checks that nothing
else needs them.

Run `make lock` (it calls `python -m tools.lock_lambda`); it needs PyPI.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from aurora_batch.errors import PermanentError
from packaging.utils import canonicalize_name

from tools.build_lambda import ARCHITECTURES, FUNCTIONS, LAMBDA_PYTHON_VERSION, REPO_ROOT, RUNTIME_PROVIDED

# botocore's own dependencies: the runtime ships them with it.
NOT_LOCKED = tuple(sorted(RUNTIME_PROVIDED | {"python-dateutil", "six"}))
# uv's name for the Lambda platform of each architecture (glibc 2.34 covers manylinux_2_28).
UV_PLATFORMS = {"arm64": "aarch64-manylinux_2_28", "x86_64": "x86_64-manylinux_2_28"}
LOCK_COMMAND = "make lock"


class LockError(PermanentError):
    """uv is missing, could not resolve, or resolved differently per architecture."""


@dataclass(frozen=True)
class LockedPackage:
    name: str  # canonical (PEP 503) name
    text: str  # the requirement line, its --hash lines and its `# via` comments
    via: frozenset[str]  # canonical names of what needs it; "-r" when requirements.in names it


def parse_lock(text: str) -> dict[str, LockedPackage]:
    """The packages of a lock uv wrote with --generate-hashes and its `# via` annotations."""
    blocks: list[list[str]] = []
    for line in text.splitlines():
        if line and not line[0].isspace() and not line.startswith("#"):
            blocks.append([line])
        elif blocks and line.startswith(" "):
            blocks[-1].append(line)
    packages: dict[str, LockedPackage] = {}
    for block in blocks:
        name = canonicalize_name(re.split(r"[=\[ ;]", block[0], maxsplit=1)[0])
        via: set[str] = set()
        for line in block[1:]:
            comment = line.strip()
            if not comment.startswith("#"):
                continue
            word = comment.lstrip("#").strip().removeprefix("via").strip()
            if word.startswith("-r "):
                via.add("-r")
            elif word and not word.startswith("-c "):
                via.add(canonicalize_name(word))
        packages[name] = LockedPackage(name, "\n".join(block), frozenset(via))
    return packages


def only_needed_by_the_runtime(packages: dict[str, LockedPackage]) -> set[str]:
    """Packages that only NOT_LOCKED ones need, directly or through each other (urllib3 for a
    function whose only path to it is botocore): the runtime ships them with botocore."""
    dropped: set[str] = set()
    while True:
        more = {
            name
            for name, package in packages.items()
            if name not in dropped and package.via and package.via <= set(NOT_LOCKED) | dropped
        }
        if not more:
            return dropped
        dropped |= more


def prune(text: str) -> str:
    """uv's lock without the packages only the runtime's botocore needs, listed at the end."""
    packages = parse_lock(text)
    dropped = only_needed_by_the_runtime(packages)
    kept = [package.text for name, package in sorted(packages.items()) if name not in dropped]
    lines = text.splitlines()
    header = lines[: next(index for index, line in enumerate(lines) if not line.startswith("#"))]
    footer = ["# Left out: the Lambda runtime provides these (with boto3 and botocore):"]
    footer += [f"# {name}" for name in sorted(set(NOT_LOCKED) | dropped)]
    return "\n".join([*header, *kept, "", *footer]) + "\n"


def find_uv() -> str | None:
    """uv beside this interpreter (the project venv), else on PATH."""
    beside = Path(sys.executable).parent / "uv"
    return str(beside) if beside.is_file() else shutil.which("uv")


def compile_command(uv: str, function: str, arch: str, output: Path, python_version: str) -> list[str]:
    service = Path("services") / function
    return [
        uv,
        "pip",
        "compile",
        "--quiet",
        "--generate-hashes",
        "--no-strip-extras",
        "--python-platform",
        UV_PLATFORMS[arch],
        "--python-version",
        python_version,
        "--constraint",
        "constraints.txt",
        *(f"--no-emit-package={name}" for name in NOT_LOCKED),
        "--custom-compile-command",
        LOCK_COMMAND,
        "--output-file",
        str(output),
        str(service / "requirements.in"),
    ]


def lock_function(function: str, uv: str, work: Path, python_version: str = LAMBDA_PYTHON_VERSION) -> str:
    """The lock text for one function; raises if the architectures resolve differently."""
    texts: dict[str, str] = {}
    for arch in ARCHITECTURES:
        output = work / f"{function}-{arch}.txt"
        command = compile_command(uv, function, arch, output, python_version)
        completed = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, check=False)
        if completed.returncode != 0:
            raise LockError(
                "uv could not lock the function", function=function, arch=arch, uv_output=completed.stderr[-2000:]
            )
        texts[arch] = output.read_text(encoding="utf-8")
    if len(set(texts.values())) != 1:
        raise LockError("the architectures resolve to different dependencies", function=function)
    return prune(texts["arm64"])


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="lock_lambda", description=__doc__.split("\n\n")[0] if __doc__ else "")
    parser.add_argument("--function", action="append", choices=FUNCTIONS, help="lock only this function (repeatable)")
    args = parser.parse_args(argv)
    uv = find_uv()
    if uv is None:
        print("lock failed: uv is not installed (make setup installs it)", file=sys.stderr)
        return 1
    work = REPO_ROOT / "build" / "lock"
    work.mkdir(parents=True, exist_ok=True)
    try:
        for function in args.function or FUNCTIONS:
            text = lock_function(function, uv, work)
            (REPO_ROOT / "services" / function / "requirements.txt").write_text(text, encoding="utf-8")
            print(f"locked services/{function}/requirements.txt")
    except LockError as exc:
        print(f"lock failed: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

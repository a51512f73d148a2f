"""The documentation works.

- Links: every relative Markdown link in README.md and docs/ points at a file that exists, and
  at one of its headings (GitHub's anchor) when it names one.
- Shell examples: every ```bash block in README.md and docs/ is either run here against the
  local stack, or only checked (a long-running command: its make target or CLI subcommand must
  exist), or marked `<!-- not-run: reason -->` on the line before it. The blocks of a document
  run in order in one shell, as a reader types them, and every command must exit 0.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aurora_batch.cli import build_parser

REPO = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
# The order the examples run in: the other docs' examples continue the Quick Start's session
# (its tables), as their text says.
FIRST_DOCUMENTS = [REPO / "README.md", REPO / "docs" / "QUICK_START.md"]
DOCUMENTS = FIRST_DOCUMENTS + sorted(set((REPO / "docs").rglob("*.md")) - set(FIRST_DOCUMENTS))
SHELL_LANGUAGES = {"bash", "sh", "shell"}
SCRIPT_TIMEOUT_SECONDS = 600
COMMAND_MARK = "@@docs-command "

# Every make target the docs may name, with why it is not run here (none is cheap or safe to
# run inside the test suite). A target missing from this list fails the test: decide first.
MAKE_TARGETS_NOT_RUN = {
    "setup": "creates or updates .venv, which this test runs in",
    "demo": "make setup + `aurora-batch demo`; test_demo_equivalent_succeeds runs the latter",
    "stack": "runs until interrupted (tests/integration/test_local_stack.py covers it)",
    "test": "runs this test suite",
    "test-unit": "runs the unit tests",
    "test-integration": "runs this test suite",
    "test-e2e": "runs the end-to-end tests",
    "bench": "minutes of benchmark",
    "build": "minutes of wheel downloads (tests/integration/test_build.py covers it)",
    "lint": "lints the whole tree (CI's lint workflow runs it)",
    "typecheck": "type-checks the whole tree (part of make lint)",
    "fmt": "rewrites source files",
    "clean": "deletes .venv, which this test runs in",
    "checkov": "scans the Terraform (tests/integration/test_checkov.py covers it)",
    "checkov-setup": "creates .venv-checkov",
}
# CLI subcommands that are only checked: they never return on their own or start their own stack.
CLI_NOT_RUN = {
    ("stack", "up"): "runs until interrupted (tests/integration/test_local_stack.py covers it)",
    ("demo",): "starts a stack of its own; test_demo_equivalent_succeeds runs it",
}
CLI_PROGRAMS = {"aurora-batch", ".venv/bin/aurora-batch"}
# Other programs a runnable block may use: local tools that talk to the local stack only.
LOCAL_PROGRAMS = {
    "export": "sets a variable for the commands after it",
    "psql": "the stack's PostgreSQL (PG* variables read from the stack's Vault secret)",
    ".venv/bin/bao": "the stack's OpenBao, with VAULT_ADDR and VAULT_TOKEN from `stack up`",
}
# Rows of the demo's sample database, whose tables the README's examples name.
SAMPLE_ROWS = 600
NOT_RUN_MARKER = re.compile(r"^<!--\s*not-run:\s*(?P<reason>.*?)\s*-->$")
FENCE = re.compile(r"^(?P<indent>\s*)(?P<fence>`{3,}|~{3,})\s*(?P<info>[^`\s]*)[^`]*$")
HEADING = re.compile(r"^ {0,3}#{1,6}\s+(?P<text>.*?)(?:\s+#+)?\s*$")
HTML_ANCHOR = re.compile(r"<a\s+(?:id|name)=\"(?P<anchor>[^\"]+)\"", re.IGNORECASE)
INLINE_LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?(?P<target>[^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
REFERENCE_LINK = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(?P<target>\S+?)>?(?:\s+\"[^\"]*\")?\s*$")
CODE_SPAN = re.compile(r"(`+)(?:(?!\1).)+?\1")
SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:|^//")
ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")
HEREDOC = re.compile(r"<<-?\s*(['\"]?)(?P<word>[A-Za-z_][A-Za-z0-9_]*)\1")
SHELL_OPERATOR_CHARS = set("|&;<>()")


# --- reading Markdown ------------------------------------------------------------------------


@dataclass(frozen=True)
class CodeBlock:
    path: Path
    line: int  # of the opening fence, 1-based
    language: str
    lines: tuple[str, ...]
    not_run_reason: str | None  # the marker's reason; None when unmarked

    @property
    def where(self) -> str:
        return f"{shown(self.path)}:{self.line}"


@dataclass(frozen=True)
class MarkdownFile:
    path: Path
    prose: tuple[tuple[int, str], ...]  # (line number, text) outside code blocks
    blocks: tuple[CodeBlock, ...]


def shown(path: Path) -> str:
    return str(path.relative_to(REPO)) if path.is_relative_to(REPO) else str(path)


def read_markdown(path: Path, text: str | None = None) -> MarkdownFile:
    lines = (path.read_text(encoding="utf-8") if text is None else text).splitlines()
    prose: list[tuple[int, str]] = []
    blocks: list[CodeBlock] = []
    last_line = ""  # the last non-blank line before the current one, prose or fence
    index = 0
    while index < len(lines):
        opening = FENCE.match(lines[index])
        if opening is None:
            prose.append((index + 1, lines[index]))
            last_line = lines[index].strip() or last_line
            index += 1
            continue
        indent, fence = len(opening["indent"]), opening["fence"]
        body: list[str] = []
        end = index + 1
        while end < len(lines) and not re.match(rf"^\s*{re.escape(fence[0])}{{{len(fence)},}}\s*$", lines[end]):
            body.append(lines[end][indent:] if lines[end][:indent].isspace() else lines[end].lstrip())
            end += 1
        marker = NOT_RUN_MARKER.match(last_line)
        blocks.append(
            CodeBlock(path, index + 1, opening["info"].lower(), tuple(body), marker["reason"] if marker else None)
        )
        index = end + 1
        last_line = fence
    return MarkdownFile(path, tuple(prose), tuple(blocks))


def github_slug(heading: str) -> str:
    """The anchor GitHub gives a heading: its text, lower-cased, punctuation dropped, spaces to -."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link counts as its text
    text = re.sub(r"<[^>]+>", "", text).strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(markdown: MarkdownFile) -> set[str]:
    """Every heading's anchor (repeats get -1, -2, ... as on GitHub) and every <a id=...>."""
    found: set[str] = set()
    seen: dict[str, int] = {}
    for _, text in markdown.prose:
        found.update(match["anchor"] for match in HTML_ANCHOR.finditer(text))
        heading = HEADING.match(text)
        if heading is None:
            continue
        slug = github_slug(heading["text"])
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        found.add(slug if count == 0 else f"{slug}-{count}")
    return found


def relative_links(markdown: MarkdownFile) -> Iterator[tuple[int, str]]:
    for number, text in markdown.prose:
        without_code = CODE_SPAN.sub("", text)
        for match in INLINE_LINK.finditer(without_code):
            yield number, match["target"]
        reference = REFERENCE_LINK.match(without_code)
        if reference:
            yield number, reference["target"]


def broken_links(markdown: MarkdownFile) -> list[str]:
    problems = []
    for number, target in relative_links(markdown):
        if SCHEME.match(target):
            continue
        path_part, _, anchor = target.partition("#")
        where = f"{shown(markdown.path)}:{number}"
        if not path_part:  # an anchor in the same document
            if anchor not in anchors(markdown):
                problems.append(f"{where}: {target}: no heading with anchor #{anchor}")
            continue
        destination = (markdown.path.parent / urllib.parse.unquote(path_part)).resolve()
        if not destination.exists():
            problems.append(f"{where}: {target}: no such file")
        elif anchor and destination.suffix == ".md" and anchor not in anchors(read_markdown(destination)):
            problems.append(f"{where}: {target}: no heading with anchor #{anchor} in {destination.name}")
    return problems


# --- reading shell blocks ----------------------------------------------------------------------


@dataclass(frozen=True)
class Command:
    block: CodeBlock
    text: str  # one logical command: continuation lines joined, a heredoc's body included

    @property
    def argv(self) -> list[str]:
        """The words of the command itself: leading VAR=value assignments and everything from
        the first shell operator (|, >, <<, &&, ...) on are left out."""
        first_line = self.text.split("\n", 1)[0]
        lexer = shlex.shlex(first_line, posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        lexer.commenters = "#"
        words: list[str] = []
        for word in lexer:
            if set(word) <= SHELL_OPERATOR_CHARS:
                break
            if not words and ASSIGNMENT.match(word):
                continue
            words.append(word)
        return words

    @property
    def program(self) -> str:
        return self.argv[0] if self.argv else ""


def commands(block: CodeBlock) -> list[Command]:
    found: list[Command] = []
    lines = list(block.lines)
    index = 0
    while index < len(lines):
        text = lines[index]
        index += 1
        if not text.strip() or text.strip().startswith("#"):
            continue
        while text.rstrip().endswith("\\") and index < len(lines):
            text = text.rstrip()[:-1] + " " + lines[index].strip()
            index += 1
        heredoc = HEREDOC.search(text)
        if heredoc:
            body = []
            while index < len(lines) and lines[index].strip() != heredoc["word"]:
                body.append(lines[index])
                index += 1
            index += 1
            text = "\n".join([text, *body, heredoc["word"]])
        found.append(Command(block, text))
    return found


def make_targets() -> set[str]:
    makefile = (REPO / "Makefile").read_text(encoding="utf-8")
    return {match[1] for match in re.finditer(r"^([A-Za-z0-9][\w.-]*)\s*:(?!=)", makefile, re.MULTILINE)}


def cli_subcommand(argv: list[str]) -> tuple[str, ...]:
    """The subcommand path (("watermark", "get"), ...) of a CLI command line, after argparse
    accepted the whole line; raises AssertionError naming the line otherwise."""
    try:
        args = build_parser().parse_args(argv[1:])
    except SystemExit as exc:
        raise AssertionError(f"the CLI rejects: {shlex.join(argv)}") from exc
    path = [args.command]
    for nested in ("action", "stack_action"):
        if getattr(args, nested, None):
            path.append(getattr(args, nested))
    return tuple(path)


@dataclass(frozen=True)
class Verdict:
    run: bool  # run it here; otherwise it was only checked
    problem: str | None = None


def judge(command: Command, targets: set[str]) -> Verdict:
    """Whether a command of an unmarked block runs here, is only checked, or is a problem."""
    argv = command.argv
    where = f"{command.block.where}: {command.text.splitlines()[0]}"
    if command.program == "make":
        named = [word for word in argv[1:] if not ASSIGNMENT.match(word) and not word.startswith("-")]
        for target in named:
            if target not in targets:
                return Verdict(False, f"{where}: the Makefile has no target {target!r}")
            if target not in MAKE_TARGETS_NOT_RUN:
                return Verdict(False, f"{where}: decide whether `make {target}` runs here (MAKE_TARGETS_NOT_RUN)")
        return Verdict(False)
    if command.program in CLI_PROGRAMS:
        try:
            subcommand = cli_subcommand(argv)
        except AssertionError as exc:
            return Verdict(False, f"{where}: {exc}")
        return Verdict(subcommand not in CLI_NOT_RUN)
    if command.program in LOCAL_PROGRAMS:
        return Verdict(True)
    return Verdict(
        False,
        f"{where}: {command.program!r} cannot run against the local stack: mark the block "
        "with <!-- not-run: reason --> or add the program to LOCAL_PROGRAMS",
    )


def check_marked(command: Command, targets: set[str]) -> str | None:
    """A block that is not run may still name make targets and CLI subcommands: they must exist."""
    if command.program == "make" or command.program in CLI_PROGRAMS:
        return judge(command, targets).problem
    return None


def plan_document(markdown: MarkdownFile, targets: set[str]) -> tuple[list[Command], list[str]]:
    """The commands to run (in order) and the problems found in the document's shell blocks."""
    to_run: list[Command] = []
    problems: list[str] = []
    for block in markdown.blocks:
        if block.language not in SHELL_LANGUAGES:
            continue
        if block.not_run_reason is not None:
            if not block.not_run_reason:
                problems.append(f"{block.where}: a not-run marker needs a reason")
            problems += [p for c in commands(block) if (p := check_marked(c, targets))]
            continue
        for command in commands(block):
            verdict = judge(command, targets)
            if verdict.problem:
                problems.append(verdict.problem)
            elif verdict.run:
                to_run.append(command)
    return to_run, problems


def shell_script(to_run: list[Command]) -> str:
    lines = ["set -eo pipefail"]
    for index, command in enumerate(to_run):
        lines += [f"echo '{COMMAND_MARK}{index}' >&2", command.text]
    return "\n".join(lines) + "\n"


def run_in_repo(argv: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv, cwd=REPO, env=env, capture_output=True, text=True, timeout=SCRIPT_TIMEOUT_SECONDS, check=False
    )


def failed_command(to_run: list[Command], stderr: str) -> Command | None:
    started = [int(line.removeprefix(COMMAND_MARK)) for line in stderr.splitlines() if line.startswith(COMMAND_MARK)]
    return to_run[started[-1]] if started else None


# --- the tests: links ------------------------------------------------------------------------


def test_every_relative_link_resolves() -> None:
    problems = [problem for path in DOCUMENTS for problem in broken_links(read_markdown(path))]

    assert not problems, "broken links:\n" + "\n".join(problems)


def test_the_link_check_finds_a_missing_file_and_a_missing_anchor(tmp_path: Path) -> None:
    (tmp_path / "other.md").write_text("# Other\n\n## Part two\n\n## Part two\n", encoding="utf-8")
    page = tmp_path / "page.md"
    text = (
        "# Page\n[ok](other.md#part-two) [ok too](other.md#part-two-1) [self](#page)\n"
        "[gone](missing.md) [no anchor](other.md#part-three) `[in code](missing-too.md)`\n"
        "```bash\n[in a block](missing-three.md)\n```\n[web](https://example.com/x.md)\n"
    )

    problems = broken_links(read_markdown(page, text))

    assert len(problems) == 2
    assert "missing.md: no such file" in problems[0]
    assert "#part-three" in problems[1]


@pytest.mark.parametrize(
    ("heading", "slug"),
    [
        ("Changing replication schedule", "changing-replication-schedule"),
        ("`STAGING_CLEANUP` and the run's files", "staging_cleanup-and-the-runs-files"),
        ("Lambda timeout → continuation", "lambda-timeout--continuation"),
        ("1. Clone, then `make demo`", "1-clone-then-make-demo"),
        ("[Vault](https://x) authentication errors", "vault-authentication-errors"),
    ],
)
def test_github_slug(heading: str, slug: str) -> None:
    assert github_slug(heading) == slug


# --- the tests: shell examples -----------------------------------------------------------------


def test_every_shell_block_is_runnable_or_marked() -> None:
    targets = make_targets()
    problems = [problem for path in DOCUMENTS for problem in plan_document(read_markdown(path), targets)[1]]

    assert not problems, "shell examples that neither run nor carry a not-run marker:\n" + "\n".join(problems)


def test_the_block_check_refuses_an_unmarked_foreign_command_and_a_missing_target(tmp_path: Path) -> None:
    text = (
        "```bash\naws lambda invoke --function-name x out.json\n```\n"
        "<!-- not-run: needs AWS -->\n```bash\naws s3 ls\n.venv/bin/aurora-batch watermark frobnicate\n```\n"
        "```bash\nmake no-such-target\n.venv/bin/aurora-batch stack up\n"
        "STAGING_CLEANUP=false aurora-batch replicate --table public.t | tee out.txt\n```\n"
    )

    to_run, problems = plan_document(read_markdown(tmp_path / "doc.md", text), make_targets())

    assert [c.argv for c in to_run] == [["aurora-batch", "replicate", "--table", "public.t"]]
    assert len(problems) == 3
    assert "'aws' cannot run" in problems[0]
    assert "watermark frobnicate" in problems[1]
    assert "no target 'no-such-target'" in problems[2]


def test_a_heredoc_and_continuation_lines_make_one_command(tmp_path: Path) -> None:
    text = "```bash\npsql <<'SQL'\nSELECT 1;\nSQL\n.venv/bin/aurora-batch cleanup \\\n  --dry-run  # comment\n```\n"
    (block,) = read_markdown(tmp_path / "doc.md", text).blocks

    found = commands(block)

    assert [c.text for c in found] == [
        "psql <<'SQL'\nSELECT 1;\nSQL",
        ".venv/bin/aurora-batch cleanup  --dry-run  # comment",
    ]
    assert found[1].argv == [".venv/bin/aurora-batch", "cleanup", "--dry-run"]


@pytest.fixture
def sample_tables(stack: Any) -> Iterator[None]:
    """The demo's sample tables in public (the README's examples name them); afterwards every
    table the examples created, in PostgreSQL and in Snowflake, is dropped again."""
    from aurora_batch_dev.demo import create_sample_database

    def pg_tables() -> set[str]:
        with stack.pg_connect() as connection, connection.cursor() as cursor:
            cursor.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
            return {row[0] for row in cursor.fetchall()}

    snowflake = stack.snowflake_connect()
    listing = (
        f'SELECT TABLE_NAME FROM "{stack.snowflake_database}".INFORMATION_SCHEMA.TABLES '
        f"WHERE TABLE_SCHEMA = '{stack.snowflake_schema}'"
    )

    def sf_tables() -> set[str]:
        return {row[0] for row in snowflake.cursor().execute(listing).fetchall()}

    pg_before, sf_before = pg_tables(), sf_tables()
    create_sample_database(stack, SAMPLE_ROWS)
    try:
        yield
    finally:
        with stack.pg_connect() as connection, connection.cursor() as cursor:
            for table in sorted(pg_tables() - pg_before):
                cursor.execute(f'DROP TABLE IF EXISTS public."{table}" CASCADE')
        for table in sorted(sf_tables() - sf_before):
            snowflake.cursor().execute(
                f'DROP TABLE IF EXISTS "{stack.snowflake_database}"."{stack.snowflake_schema}"."{table}"'
            )
        snowflake.close()


def test_every_local_shell_example_works(stack_env: dict[str, str], sample_tables: None) -> None:
    targets = make_targets()
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env = {**inherited, **stack_env, "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    ran = 0
    for path in DOCUMENTS:
        to_run, _ = plan_document(read_markdown(path), targets)
        if not to_run:
            continue
        result = run_in_repo(["/bin/bash", "-c", shell_script(to_run)], env)
        failed = failed_command(to_run, result.stderr)
        assert result.returncode == 0, (
            f"{failed.block.where if failed else path}: exit {result.returncode}: "
            f"{failed.text if failed else '(before the first command)'}\n"
            f"stdout (tail):\n{result.stdout[-3000:]}\nstderr (tail):\n{result.stderr[-3000:]}"
        )
        ran += len(to_run)
    assert ran > 0


def test_demo_equivalent_succeeds() -> None:
    """`make demo` is `make setup` then `aurora-batch demo`: run the latter, smaller."""
    result = run_in_repo([str(VENV_BIN / "aurora-batch"), "demo", "--rows", str(SAMPLE_ROWS)], dict(os.environ))

    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "every table is equal on both sides" in result.stdout

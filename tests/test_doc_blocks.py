"""Every code block of README.md and docs/**/*.md is exercised, so no doc example goes stale.

What each kind of block goes through:

- ``python``: compiled (top-level ``await`` allowed, as in a notebook or ``python -m asyncio``).
  A block that starts its own event loop (``anyio.run``, ``trio.run``, ``asyncio.run``,
  ``execute_sync``) runs as a script, in a folder whose ``agentflow.yml`` sends every vendor to
  the fake provider server; any other block runs in this process under ``fake_agentflow``, in
  one namespace per page, in page order, as a reader would type them into one session, in
  that folder. The names a page uses without importing them are given: ``AgentFlow``,
  ``Path``, ``anyio``, ``httpx``, ``Reply``, and the fake server as ``server`` and
  ``fake_llm_server``.
- ``console``: every ``$`` line is split as a shell would (a syntax error fails); ``agentflow``
  commands are parsed by the command's own parser and run against the fake server, ``nox``
  sessions must exist, files and modules named must exist. ``pip install`` lines are checked
  by tests/test_install_lines.py and run by ``nox -s install``.
- ``yaml``: parsed, then loaded as a configuration (the plugins' own checks included), which
  must succeed; ``toml``: parsed.
- ``text`` and unlabelled blocks are output, trees and messages: nothing runs, but a ``$``
  line there means a command in the wrong kind of block.

A marker on the line before the fence changes that:

- ``<!-- needs-key -->``: the block shows a real vendor at work; compiled or parsed only.
- ``<!-- compile-only: why -->``: a sketch or a fragment (names the page defines elsewhere, a
  reader's file); compiled or parsed only, and the reason is required.
- ``<!-- from: path -->``: the block is the file's text (or a part of it), verbatim, after
  an optional first line, a comment naming the file; the file is run by its own tests
  (docs/examples/*.py by tests/test_e2e_*_example.py, the tutorial plugin by its nox session).
- ``<!-- invalid-on-purpose -->``: a configuration shown for its error: loading it must fail.
"""

from __future__ import annotations

import ast
import logging
import os
import re
import shlex
import subprocess
import sys
import textwrap
from importlib.util import find_spec
from pathlib import Path
from typing import NamedTuple

import pytest

if sys.version_info >= (3, 11):
    import tomllib
else:
    tomllib = pytest.importorskip("tomli")

ROOT = Path(__file__).parents[1]
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
FENCE = re.compile(r"^(?P<indent> *)```(?P<lang>[\w-]*)\s*$")
MARKER = re.compile(r"^<!--\s*(?P<kind>needs-key|compile-only|from|invalid-on-purpose)"
                    r"(?::\s*(?P<argument>.*?))?\s*-->$")
PROGRAM = re.compile(r"^(?:anyio|trio|asyncio)\.run\(|\.execute_sync\(\)|^if __name__ ==",
                     re.MULTILINE)
FAKE_KEY_ENV = "AGENTFLOW_FAKE_API_KEY"


class Block(NamedTuple):
    document: Path
    line: int  # of the opening fence
    lang: str
    text: str
    marker: str | None
    argument: str | None

    @property
    def where(self) -> str:
        return f"{self.document.relative_to(ROOT)}:{self.line}"

    @property
    def runs(self) -> bool:
        return self.marker is None


def read_blocks(document: Path) -> list[Block]:
    lines = document.read_text(encoding="utf-8").splitlines()
    blocks, index = [], 0
    while index < len(lines):
        opening = FENCE.match(lines[index])
        if not opening:
            index += 1
            continue
        indent = opening["indent"]
        end = index + 1
        while end < len(lines) and lines[end].strip() != "```":
            end += 1
        body = textwrap.dedent("\n".join(lines[index + 1:end])) + "\n"
        marker = MARKER.match(lines[index - 1].strip()) if index else None
        blocks.append(Block(document, index + 1, opening["lang"], body,
                            marker["kind"] if marker else None,
                            marker["argument"] if marker else None))
        assert not indent or lines[end].startswith(indent), f"{document}:{index + 1}"
        index = end + 1
    return blocks


BLOCKS = [block for document in DOCUMENTS for block in read_blocks(document)]


def of(*langs: str) -> list[Block]:
    return [block for block in BLOCKS if block.lang in langs]


def ids(blocks: list[Block]) -> list[str]:
    return [block.where for block in blocks]


def test_the_docs_have_blocks_of_every_kind():
    assert {"python", "console", "yaml", "toml", "text"} <= {block.lang for block in BLOCKS}
    assert len(BLOCKS) > 100


@pytest.mark.parametrize("block", BLOCKS, ids=ids(BLOCKS))
def test_every_marker_is_used_as_meant(block):
    if block.marker == "compile-only":
        assert block.argument, f"{block.where}: say why the block cannot run"
    if block.marker == "from":
        source = ROOT / (block.argument or "")
        assert source.is_file(), f"{block.where}: no file {block.argument}"
        text = block.text
        first, _, rest = text.partition("\n")
        if first.startswith("# ") and source.name in first:
            text = rest  # a caption naming the file
        assert text.strip() in source.read_text(encoding="utf-8"), (
            f"{block.where}: the block is not the text of {block.argument} (any more)")
    if block.marker == "invalid-on-purpose":
        assert block.lang == "yaml", block.where
    if block.lang in ("text", ""):
        assert block.marker is None, block.where
        assert not any(line.startswith("$ ") for line in block.text.splitlines()), (
            f"{block.where}: a command in a text block: make it a console block")


# python ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("block", of("python"), ids=ids(of("python")))
def test_python_block_compiles(block):
    compile(block.text, block.where, "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)


def _pages_of_snippets() -> dict[Path, list[Block]]:
    pages: dict[Path, list[Block]] = {}
    for block in of("python"):
        if block.runs and not PROGRAM.search(block.text):
            pages.setdefault(block.document, []).append(block)
    return pages


SNIPPETS = _pages_of_snippets()
PROGRAMS = [block for block in of("python") if block.runs and PROGRAM.search(block.text)]


@pytest.mark.anyio
@pytest.mark.parametrize("document", list(SNIPPETS),
                         ids=[str(d.relative_to(ROOT)) for d in SNIPPETS])
async def test_python_snippets_of_a_page_run_against_the_fake_server(document, fake_agentflow,
                                                                   fake_home, monkeypatch):
    import anyio
    import httpx

    from agentflow import AgentFlow
    from agentflow.testing import Reply

    monkeypatch.chdir(fake_home)  # where the pictures the docs attach are
    server = fake_agentflow.server
    namespace = {"__name__": "__doc__", "AgentFlow": AgentFlow, "Path": Path, "anyio": anyio,
                 "httpx": httpx, "Reply": Reply, "server": server, "fake_llm_server": server}
    logger = logging.getLogger("agentflow")
    level = logger.level
    try:
        for block in SNIPPETS[document]:
            code = compile(block.text, block.where, "exec",
                           flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
            try:
                result = eval(code, namespace)  # the docs' own code, top-level await allowed
                if result is not None:
                    await result
            except Exception as exc:
                raise AssertionError(f"{block.where} failed: {exc!r}") from exc
    finally:
        logger.setLevel(level)


@pytest.fixture(scope="module")
def fake_home(tmp_path_factory, fake_llm_server_session):
    """A folder a reader could run the docs in: its agentflow.yml sends every installed vendor
    to the fake server, and the files the docs attach are there."""
    from agentflow import AgentFlow

    home = tmp_path_factory.mktemp("reader")
    providers = sorted(AgentFlow.runtime().host.providers())
    lines = ["providers:"]
    for name in providers:
        lines += [f"  {name}:", f"    base_url: {fake_llm_server_session.base_url(name)}",
                  f"    api_key_env: {FAKE_KEY_ENV}"]
    (home / "agentflow.yml").write_text("\n".join(lines) + "\n")
    for picture in ("photo.jpg", "cat.png", "map.png"):
        (home / picture).write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(32))
    return home


def run_in(home: Path, *command: str) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items()
           if not key.startswith("AGENTFLOW_") and not key.endswith("_API_KEY")}
    env.update({FAKE_KEY_ENV: "fake-key-not-a-secret", "XDG_CONFIG_HOME": str(home / "none")})
    return subprocess.run(command, capture_output=True, text=True, cwd=home, env=env,
                          timeout=120)


@pytest.mark.parametrize("block", PROGRAMS, ids=ids(PROGRAMS))
def test_python_program_runs_against_the_fake_server(block, fake_home):
    script = fake_home / f"block_{block.line}.py"
    script.write_text(block.text)
    result = run_in(fake_home, sys.executable, str(script))
    assert result.returncode == 0, f"{block.where}:\n{result.stderr}"


# console --------------------------------------------------------------------------------------


def commands(block: Block) -> list[list[str]]:
    found = []
    for line in block.text.splitlines():
        if line.startswith("$ "):
            for part in re.split(r"\s&&\s", line[2:]):
                words = shlex.split(part, comments=True)  # a shell's quoting, or ValueError
                if ">" in words:
                    words = words[:words.index(">")]
                if words:
                    found.append(words)
    return found


def nox_sessions() -> set[str]:
    tree = ast.parse((ROOT / "noxfile.py").read_text())
    return {node.name for node in tree.body if isinstance(node, ast.FunctionDef)
            and any("session" in ast.unparse(d) for d in node.decorator_list)}


def nox_tags() -> set[str]:
    """Every tag a session of noxfile.py declares (``@nox.session(tags=[...])``)."""
    tree = ast.parse((ROOT / "noxfile.py").read_text())
    return {tag.value for node in ast.walk(tree) if isinstance(node, ast.keyword)
            and node.arg == "tags" and isinstance(node.value, ast.List)
            for tag in node.value.elts if isinstance(tag, ast.Constant)}


@pytest.mark.parametrize("block", of("console"), ids=ids(of("console")))
def test_console_block_commands_parse(block):
    from agentflow.cli.main import _parser

    found = commands(block)
    assert found, f"{block.where}: no $ line"
    for words in found:
        program, args = words[0], words[1:]
        if program == "agentflow":
            try:
                _parser().parse_args(args)
            except SystemExit as exc:
                raise AssertionError(f"{block.where}: {shlex.join(words)} is refused") from exc
        elif program in ("python", "python3") and args[:2] == ["-m", "nox"]:
            sessions = [args[i + 1] for i, a in enumerate(args) if a == "-s"]
            assert set(sessions) <= nox_sessions(), f"{block.where}: {sessions}"
            tags = [args[i + 1] for i, a in enumerate(args) if a == "-t"]
            assert set(tags) <= nox_tags(), f"{block.where}: {tags}"
        elif program in ("python", "python3") and args[:1] == ["-m"]:
            assert args[1] in ("pip", "venv") or find_spec(args[1]), f"{block.where}: {args}"
        elif program in ("python", "python3", "pytest"):
            assert (ROOT / args[0]).exists(), f"{block.where}: no {args[0]}"
        else:
            assert program in ("pip", "export", "."), (
                f"{block.where}: {program}: a command this test does not know; teach it")


RUNNABLE = [block for block in of("console") if block.runs
            and any(words[0] == "agentflow" for words in commands(block))]


@pytest.mark.parametrize("block", RUNNABLE, ids=ids(RUNNABLE))
def test_console_agentflow_commands_run_against_the_fake_server(block, fake_home):
    for words in commands(block):
        if words[0] == "agentflow":
            result = run_in(fake_home, sys.executable, "-m", "agentflow.cli", *words[1:])
            assert result.returncode == 0, (
                f"{block.where}: {shlex.join(words)}:\n{result.stdout}{result.stderr}")


# yaml, toml -----------------------------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize("block", of("yaml"), ids=ids(of("yaml")))
async def test_yaml_block_is_a_configuration_that_loads(block, tmp_path, monkeypatch):
    from ruamel.yaml import YAML

    from agentflow import LLMError
    from agentflow._runtime.runtime import Runtime

    YAML(typ="safe").load(block.text)
    if block.marker not in (None, "invalid-on-purpose"):
        return
    path = tmp_path / "agentflow.yml"
    path.write_text(block.text)
    runtime = Runtime()
    try:
        if block.marker == "invalid-on-purpose":
            with pytest.raises(LLMError):
                runtime.load_config(path)
        else:
            runtime.load_config(path)
    finally:
        await runtime.aclose()


@pytest.mark.parametrize("block", of("toml"), ids=ids(of("toml")))
def test_toml_block_parses(block):
    tomllib.loads(block.text)

"""The hooks reference documents every hook spec, and nothing that is not one; the plugin
tutorial shows the example plugin's source as it is."""

from __future__ import annotations

import re
from pathlib import Path

from agentflow import hookspecs

HOOKS_DOC = Path(__file__).parents[2] / "docs" / "hooks.md"
ROOT = Path(__file__).parents[2]
TUTORIAL = ROOT / "docs" / "writing-a-provider-plugin.md"
EXAMPLE = "docs/examples/agentflow-acme"
# A block of code, with the marker on the line before its fence.
TUTORIAL_BLOCK = re.compile(r"^(?:<!-- from: (?P<source>\S+) -->\n)?```(?P<lang>\w*)\n"
                            r"(?P<body>.*?)^```$", re.MULTILINE | re.DOTALL)


def test_every_hook_spec_has_a_heading_and_a_docstring():
    specs = {name for name in dir(hookspecs) if name.startswith("agentflow_")}
    headings = set(re.findall(r"^## (agentflow_\w+)$", HOOKS_DOC.read_text(), re.MULTILINE))
    assert headings == specs
    for name in specs:
        assert len(getattr(hookspecs, name).__doc__ or "") > 80, name


def test_tutorial_shows_the_example_plugin_entry_point_and_codec():
    docs = Path(__file__).parents[2] / "docs"
    tutorial = (docs / "writing-a-provider-plugin.md").read_text()
    example = (docs / "examples" / "agentflow-acme" / "pyproject.toml").read_text()
    assert '[project.entry-points.agentflow]\nacme = "agentflow_acme:PLUGIN"' in example
    assert '[project.entry-points.agentflow]\nacme = "agentflow_acme:PLUGIN"' in tutorial
    package = docs / "examples" / "agentflow-acme" / "src" / "agentflow_acme"
    assert "PLUGIN = VendorPlugin(" in (package / "__init__.py").read_text()
    assert "PLUGIN = VendorPlugin(" in tutorial
    functions = re.findall(r"^def ([a-z]\w*)\(", (package / "codec.py").read_text(), re.M)
    assert len(functions) == 5  # the Codec protocol
    for function in functions:
        assert f"def {function}(" in tutorial, function


def _tutorial_blocks() -> list[tuple[str | None, str, str]]:
    return [(m["source"], m["lang"], m["body"])
            for m in TUTORIAL_BLOCK.finditer(TUTORIAL.read_text())]


def _code_lines(text: str) -> list[str]:
    return [line.rstrip() for line in text.splitlines() if line.strip()]


def _without_caption(body: str, source: str) -> str:
    """A block may start with a comment naming its file (``# src/agentflow_acme/codec.py``)."""
    first, _, rest = body.partition("\n")
    return rest if first.startswith("# ") and Path(source).name in first else body


def test_every_code_block_of_the_tutorial_is_the_example_source():
    for source, lang, body in _tutorial_blocks():
        if lang in ("python", "toml"):
            assert source is not None, body[:80]
            assert source.startswith(EXAMPLE + "/"), source


def test_the_tutorial_shows_each_example_file_whole_and_in_order():
    """The blocks taken from one file, one after the other, are that file (blank lines aside):
    the tutorial cannot drift from the code CI runs, nor leave out a part of it."""
    shown: dict[str, list[str]] = {}
    for source, _, body in _tutorial_blocks():
        if source is not None:
            shown.setdefault(source, []).extend(_code_lines(_without_caption(body, source)))
    package = f"{EXAMPLE}/src/agentflow_acme"
    assert {f"{package}/__init__.py", f"{package}/codec.py", f"{package}/testing.py",
            f"{EXAMPLE}/pyproject.toml", f"{EXAMPLE}/tests/test_acme.py",
            f"{EXAMPLE}/tests/test_acme_conformance.py"} <= set(shown)
    for source, lines in shown.items():
        assert lines == _code_lines((ROOT / source).read_text()), source

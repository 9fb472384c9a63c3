"""The hooks reference documents every hook spec, and nothing that is not one."""

from __future__ import annotations

import re
from pathlib import Path

from agentflow import hookspecs

HOOKS_DOC = Path(__file__).parents[2] / "docs" / "hooks.md"


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

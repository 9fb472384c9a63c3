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

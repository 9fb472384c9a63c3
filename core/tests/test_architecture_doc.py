"""docs/architecture.md stays true: every hook and every core package is on its map."""

from __future__ import annotations

import re
from pathlib import Path

import agentflow
from agentflow import hookspecs

ARCHITECTURE_DOC = Path(__file__).parents[2] / "docs" / "architecture.md"


def test_every_hook_is_in_the_table_of_where_hooks_are_called():
    specs = {name for name in dir(hookspecs) if name.startswith("agentflow_")}
    listed = set(re.findall(r"^\| `(agentflow_\w+)` \|", ARCHITECTURE_DOC.read_text(),
                            re.MULTILINE))
    assert listed == specs


def test_every_core_package_and_public_module_is_on_the_map():
    package = Path(agentflow.__file__).parent
    members = {path.stem for path in package.glob("*.py") if path.stem != "__init__"}
    members |= {path.name for path in package.iterdir() if (path / "__init__.py").exists()}
    members -= {"_lazy"}
    mapped = set(re.findall(r"^\| `agentflow\.(\w+)`", ARCHITECTURE_DOC.read_text(),
                            re.MULTILINE))
    assert mapped == members

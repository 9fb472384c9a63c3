"""Every ``pip install`` line in the README files and docs/ works as written today, or says it
waits for the distributions to be published.

Nothing of agentflow is on PyPI yet, so a line that names an agentflow distribution must say
"once published" (or "published") on its line or near it. A line that installs from the
checkout must name folders that hold distributions, given from the repository's root, together
with every one of the repository's distributions they need (a folder alone would make pip look
for the rest on PyPI). ``nox -s install`` runs the README's checkout line for real
(tools/check_install.py).
"""

from __future__ import annotations

import re
import shlex
import sys
from pathlib import Path

import pytest

if sys.version_info >= (3, 11):
    import tomllib
else:
    tomllib = pytest.importorskip("tomli")

ROOT = Path(__file__).parents[1]
DOCUMENTS = sorted([ROOT / "README.md", ROOT / "core" / "README.md",
                    *ROOT.glob("plugins/*/README.md"), *ROOT.glob("docs/**/*.md"),
                    *ROOT.glob("docs/examples/*.py")])
# The command: up to the end of the inline code, a comment or the end of the line.
PIP_INSTALL = re.compile(r"pip install ([^`#\n]+)")
NEAR = 3  # lines either side where "published" may stand
DISTRIBUTION_FOLDERS = [ROOT / "core",
                        *sorted(p.parent for p in ROOT.glob("plugins/*/pyproject.toml")),
                        ROOT / "docs" / "examples" / "agentflow-acme"]


def _project(folder: Path) -> dict:
    return tomllib.loads((folder / "pyproject.toml").read_text())["project"]


OURS = {_project(folder)["name"]: folder for folder in DISTRIBUTION_FOLDERS}


def _name(requirement: str) -> str:
    return re.split(r"[\s<>=!~;\[]", requirement, maxsplit=1)[0].lower()


def _install_lines() -> list[tuple[str, int, str, list[str]]]:
    found = []
    for document in DOCUMENTS:
        lines = document.read_text().splitlines()
        for number, line in enumerate(lines, 1):
            for match in PIP_INSTALL.finditer(line):
                context = "\n".join(lines[max(0, number - 1 - NEAR):number + NEAR])
                found.append((f"{document.relative_to(ROOT)}:{number}", number, context,
                              shlex.split(match.group(1).strip().rstrip(").,;:"))))
    return found


INSTALL_LINES = _install_lines()


def test_the_docs_have_install_lines():
    assert len(INSTALL_LINES) > 20


@pytest.mark.parametrize(("where", "number", "context", "arguments"), INSTALL_LINES,
                         ids=[line[0] for line in INSTALL_LINES])
def test_install_line_works_today_or_says_it_waits(where, number, context, arguments):
    targets = [a for a in arguments if not a.startswith("-")]
    named = [_name(t) for t in targets if "/" not in t and _name(t).startswith("agentflow-")]
    folders = [t for t in targets if "/" in t]
    if any("<" in t for t in targets):
        return  # a pattern such as agentflow-<vendor>, not a line to run
    for name in named:
        assert name in OURS, f"{where}: {name} is no distribution of this repository"
    if named:
        assert "published" in context, (
            f"{where}: `pip install {shlex.join(arguments)}` cannot work before the "
            "distributions are on PyPI: say 'once published', or install from the checkout")
    provided: dict[str, set[str]] = {}
    for target in folders:
        path, _, extras = target.partition("[")
        folder = (ROOT / path).resolve()
        assert (folder / "pyproject.toml").exists(), (
            f"{where}: {path} is not a distribution's folder (paths are from the repository's "
            "root)")
        provided[_project(folder)["name"]] = {e.strip() for e in extras.rstrip("]").split(",")
                                              if e.strip()}
    for name, extras in provided.items():
        project = _project(OURS[name])
        optional = project.get("optional-dependencies", {})
        for requirement in [*project.get("dependencies", []),
                            *(r for extra in extras for r in optional.get(extra, []))]:
            needed = _name(requirement)
            if needed in OURS:
                assert needed in provided or needed in named, (
                    f"{where}: {name} needs {needed}, which the line does not install from "
                    "the checkout: pip would look for it on PyPI")


@pytest.mark.parametrize("document", DOCUMENTS, ids=[str(d.relative_to(ROOT)) for d in DOCUMENTS])
def test_asyncio_run_is_given_a_coroutine(document):
    """``asyncio.run(main)`` raises ``ValueError: a coroutine was expected``: it takes
    ``main()``, unlike ``anyio.run(main)`` and ``trio.run(main)``."""
    wrong = re.findall(r"asyncio\.run\(\s*[\w.]+\s*[,)]", document.read_text())
    assert not wrong, f"{document.relative_to(ROOT)}: {wrong}"

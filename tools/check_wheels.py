"""Check the release artefacts in a folder: what ``nox -s build`` runs after ``twine check``.

    python tools/check_wheels.py dist --expect agentflow-core agentflow-openai ...

twine checks that the metadata is well formed and the long description renders. This checks
what twine does not, for every wheel and sdist of the repository's distributions:

- exactly one wheel and one sdist per expected distribution, all of the same version;
- wheel contents: no tests, no ``__pycache__`` or compiled files, only the distribution's own
  packages, each with ``py.typed``; the license file, equal to the repository's LICENSE;
- metadata: ``Requires-Python``, a license expression, classifiers that PyPI knows,
  ``Typing :: Typed``, the project URLs, a Markdown description without relative links (they
  are broken on PyPI);
- entry points: every plugin registers itself in the ``agentflow`` group, the core has the
  ``agentflow`` console script and the pytest plugin, and each entry point's module is in
  the wheel;
- versions: a package's ``__version__`` equals the distribution's version; every requirement
  on another of the repository's distributions is a bounded range that the built version meets;
- sdist contents: PKG-INFO, pyproject.toml, README and LICENSE, no caches.

Prints the artefacts with their sizes, then every problem found; exits 1 if there is one.
"""

from __future__ import annotations

import argparse
import configparser
import re
import sys
import tarfile
import zipfile
from collections.abc import Iterable
from email.message import Message
from email.parser import Parser
from pathlib import Path, PurePosixPath

from packaging.requirements import Requirement
from packaging.utils import (
    NormalizedName,
    canonicalize_name,
    parse_sdist_filename,
    parse_wheel_filename,
)
from packaging.version import Version
from trove_classifiers import classifiers as KNOWN_CLASSIFIERS

ROOT = Path(__file__).resolve().parents[1]
PROJECT_PREFIX = "agentflow-"
CORE = "agentflow-core"
URL_LABELS = ("Homepage", "Source", "Documentation", "Issues", "Changelog")
CACHE_PARTS = {"__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache", ".hypothesis"}
TEST_DIRS = {"tests", "test"}
# A Markdown link or image whose target is neither a URL nor an anchor.
RELATIVE_LINK = re.compile(r"\]\((?!https?://|mailto:|#)([^)\s]+)\)")
VERSION_LINE = re.compile(r"^__version__\s*=\s*['\"]([^'\"]+)['\"]", re.M)


def main(argv: list[str] | None = None) -> int:
    """Check the folder given on the command line; returns the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("dist", type=Path, help="the folder holding the wheels and sdists")
    parser.add_argument("--expect", nargs="+", required=True, metavar="NAME",
                        help="the distribution names that must each have a wheel and an sdist")
    args = parser.parse_args(argv)
    problems = check_folder(args.dist, [canonicalize_name(n) for n in args.expect])
    for problem in problems:
        print(f"problem: {problem}")
    if problems:
        print(f"{len(problems)} problem(s) in {args.dist}")
        return 1
    print(f"all {2 * len(args.expect)} artefacts in {args.dist} are release-ready")
    return 0


def check_folder(dist: Path, expected: list[NormalizedName]) -> list[str]:
    """Every problem with the artefacts in ``dist``, as sentences naming the file."""
    wheels = sorted(dist.glob("*.whl"))
    sdists = sorted(dist.glob("*.tar.gz"))
    for path in [*wheels, *sdists]:
        print(f"{path.stat().st_size:>9,}  {path.name}")
    problems: list[str] = []
    versions: dict[NormalizedName, Version] = {}
    for wheel in wheels:
        name, version, _, _ = parse_wheel_filename(wheel.name)
        if name in versions:
            problems.append(f"{wheel.name}: a second wheel of {name}")
        versions[name] = version
    sdist_versions: dict[NormalizedName, Version] = {}
    for sdist in sdists:
        name, version = parse_sdist_filename(sdist.name)
        sdist_versions[name] = version
        problems += [f"{sdist.name}: {p}" for p in check_sdist(sdist)]
    for wanted in expected:
        if wanted not in versions:
            problems.append(f"no wheel of {wanted}")
        if wanted not in sdist_versions:
            problems.append(f"no sdist of {wanted}")
        elif wanted in versions and sdist_versions[wanted] != versions[wanted]:
            problems.append(f"{wanted}: the sdist is {sdist_versions[wanted]}, "
                            f"the wheel {versions[wanted]}")
    problems += [f"{name} is in the folder but was not expected"
                 for name in sorted(set(versions) | set(sdist_versions)) if name not in expected]
    for wheel in wheels:
        problems += [f"{wheel.name}: {p}" for p in check_wheel(wheel, versions)]
    return problems


def check_wheel(path: Path, built: dict[NormalizedName, Version]) -> list[str]:
    """The problems of one wheel; ``built`` maps each built distribution to its version."""
    name, version, _, _ = parse_wheel_filename(path.name)
    with zipfile.ZipFile(path) as archive:
        files = {PurePosixPath(n): archive.read(n) for n in archive.namelist()
                 if not n.endswith("/")}
    dist_info = next((p.parts[0] for p in files if p.parts[0].endswith(".dist-info")), None)
    if dist_info is None:
        return ["no .dist-info folder"]
    metadata = Parser().parsestr(files[PurePosixPath(dist_info, "METADATA")].decode())
    packages = sorted({p.parts[0] for p in files if p.parts[0] != dist_info})
    return [
        *check_contents(files, packages),
        *check_license(files, dist_info, metadata),
        *check_metadata(metadata, typed=bool(packages)),
        *check_entry_points(name, files, dist_info),
        *check_versions(name, version, files, packages, metadata, built),
    ]


def check_contents(files: dict[PurePosixPath, bytes], packages: list[str]) -> Iterable[str]:
    """No tests, no caches, only the project's packages, each typed."""
    for path in files:
        if TEST_DIRS & set(path.parts[:-1]) or path.name.startswith("test_") \
                or path.name == "conftest.py":
            yield f"holds a test file: {path}"
        if CACHE_PARTS & set(path.parts) or path.suffix in {".pyc", ".pyo"}:
            yield f"holds a cache or compiled file: {path}"
    if not packages:
        yield "holds no package"
    for package in packages:
        if not package.startswith("agentflow"):
            yield f"installs a foreign top-level name: {package}"
        elif PurePosixPath(package, "py.typed") not in files:
            yield f"package {package} has no py.typed"


def check_license(files: dict[PurePosixPath, bytes], dist_info: str,
                  metadata: Message) -> Iterable[str]:
    """The license expression and file, the file equal to the repository's LICENSE."""
    if not metadata.get("License-Expression"):
        yield "no License-Expression"
    license_files = metadata.get_all("License-File") or []
    if not license_files:
        yield "no License-File"
    expected = (ROOT / "LICENSE").read_bytes()
    for name in license_files:
        content = files.get(PurePosixPath(dist_info, "licenses", name))
        if content is None:
            yield f"License-File {name} is not in {dist_info}/licenses/"
        elif content != expected:
            yield f"license file {name} differs from the repository's LICENSE"


def check_metadata(metadata: Message, *, typed: bool) -> Iterable[str]:
    """Requires-Python, classifiers, project URLs and a description that renders on PyPI."""
    if not metadata.get("Requires-Python"):
        yield "no Requires-Python"
    classifiers = metadata.get_all("Classifier") or []
    if not classifiers:
        yield "no classifiers"
    yield from (f"unknown classifier {c!r}" for c in classifiers if c not in KNOWN_CLASSIFIERS)
    if typed and "Typing :: Typed" not in classifiers:
        yield "typed packages but no 'Typing :: Typed' classifier"
    urls = dict(entry.split(", ", 1) for entry in metadata.get_all("Project-URL") or [])
    for label in URL_LABELS:
        if not urls.get(label, "").startswith("https://"):
            yield f"no https Project-URL {label!r}"
    if metadata.get("Description-Content-Type", "").split(";")[0] != "text/markdown":
        yield "the description is not Markdown"
    description = metadata.get_payload()
    if not isinstance(description, str) or not description.strip():
        yield "no long description"
    else:
        yield from (f"the description links to {target!r}, a relative link (broken on PyPI)"
                    for target in RELATIVE_LINK.findall(description))


def check_entry_points(name: str, files: dict[PurePosixPath, bytes],
                       dist_info: str) -> Iterable[str]:
    """The plugin's registration (or the core's script and pytest plugin), each importable."""
    raw = files.get(PurePosixPath(dist_info, "entry_points.txt"))
    if raw is None:
        yield "no entry_points.txt"
        return
    groups = configparser.ConfigParser(delimiters=("=",), interpolation=None)
    groups.optionxform = str  # type: ignore[assignment,method-assign]  # keep the case
    groups.read_string(raw.decode())
    wanted = ({"console_scripts": "agentflow", "pytest11": "agentflow"} if name == CORE
              else {"agentflow": name.removeprefix(PROJECT_PREFIX)})
    for group, entry in wanted.items():
        if not groups.has_option(group, entry):
            yield f"no entry point {entry!r} in group {group!r}"
    for group in groups.sections():
        for entry, value in groups.items(group):
            module = value.split(":")[0].strip()
            as_path = PurePosixPath(*module.split("."))
            if as_path.with_suffix(".py") not in files \
                    and as_path / "__init__.py" not in files:
                yield f"entry point {group}:{entry} names {module}, which is not in the wheel"


def check_versions(name: str, version: Version, files: dict[PurePosixPath, bytes],
                   packages: list[str], metadata: Message,
                   built: dict[NormalizedName, Version]) -> Iterable[str]:
    """One version per distribution; bounded ranges on the repository's own distributions."""
    if Version(metadata["Version"]) != version:
        yield f"the file name says {version}, the metadata {metadata['Version']}"
    for package in packages:
        init = files.get(PurePosixPath(package, "__init__.py"), b"").decode()
        found = VERSION_LINE.search(init)
        if found and Version(found.group(1)) != version:
            yield f"{package}.__version__ is {found.group(1)}, the distribution {version}"
    for line in metadata.get_all("Requires-Dist") or []:
        requirement = Requirement(line)
        other = canonicalize_name(requirement.name)
        if not other.startswith(PROJECT_PREFIX):
            continue
        if requirement.marker is not None and "extra" in str(requirement.marker):
            continue  # a test extra may take whatever the base requirement allows
        bounds = {spec.operator for spec in requirement.specifier}
        if not bounds & {">=", ">", "~=", "=="} or not bounds & {"<", "~=", "=="}:
            yield f"requires {line!r}: not a bounded range (say e.g. '>=0.1,<0.2')"
        if other in built and built[other] not in requirement.specifier:
            yield f"requires {line!r}, but the built {other} is {built[other]}"
    if name != CORE and not any(
            canonicalize_name(Requirement(line).name) == CORE
            for line in metadata.get_all("Requires-Dist") or []):
        yield f"does not depend on {CORE}"


def check_sdist(path: Path) -> Iterable[str]:
    """An sdist holds what a build needs, and no caches."""
    with tarfile.open(path) as archive:
        names = [PurePosixPath(n) for n in archive.getnames()]
    top = {n.parts[0] for n in names}
    if len(top) != 1:
        yield f"more than one top-level folder: {sorted(top)}"
        return
    root = PurePosixPath(top.pop())
    for needed in ("PKG-INFO", "pyproject.toml", "README.md", "LICENSE"):
        if root / needed not in names:
            yield f"no {needed}"
    for name in names:
        if CACHE_PARTS & set(name.parts) or name.suffix in {".pyc", ".pyo"}:
            yield f"holds a cache or compiled file: {name}"


if __name__ == "__main__":
    sys.exit(main())

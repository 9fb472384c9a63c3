"""Prove the user's install line against the built artefacts: what ``nox -s install`` runs.

    python tools/check_install.py dist [--wheelhouse build/wheelhouse]

For each scenario, a fresh virtual environment runs the user's line, e.g. exactly
``pip install agentflow-core agentflow-openai`` (made by ``python -m venv`` with the pip it
brings; the other scenarios use a venv without pip and this process's pip with ``--python``,
to save the time of installing pip each time), with
``--no-index --find-links dist --find-links <wheelhouse>`` and no pip configuration: the
agentflow distributions can come only from ``dist``, never from an index. The wheelhouse holds
the third-party dependencies only (httpx, pluggy, attrs, ...), downloaded first with
``pip download`` from the ordinary index. Then ``agentflow plugins``, ``agentflow demo`` and
``tools/install_probe.py`` (one call and one stream per provider through the Python API,
against the fake provider server) run in that environment.

Then a copy of the core is built as version 9.0.0 and pip must refuse to install
agentflow-openai (which requires ``agentflow-core>=0.1,<0.2``) next to it.

Last, the lines of README.md and docs/quickstart.md that install from the checkout
(``pip install ./core ./plugins/agentflow-openai``) run as written, from the repository's root,
with the machine's ordinary pip settings, followed by ``agentflow demo``.

Prints a short transcript; exits 1 at the first step that goes wrong, with its output.
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Sequence
from email.message import Message
from email.parser import Parser
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name, parse_wheel_filename

ROOT = Path(__file__).resolve().parents[1]
PROBE = Path(__file__).with_name("install_probe.py")
PROJECT_PREFIX = "agentflow-"
# The user's lines, and the providers each must make callable. Every built distribution must
# appear in one of them, so a new plugin is not forgotten here.
SCENARIOS: list[tuple[list[str], list[str]]] = [
    (["agentflow-core", "agentflow-openai"], ["openai", "openai_compatible"]),
    (["agentflow-core", "agentflow-anthropic"], ["anthropic"]),
    (["agentflow-core", "agentflow-google"], ["google"]),
    (["agentflow-core", "agentflow-moonshot"], ["moonshot", "moonshot_cn"]),
    (["agentflow-core", "agentflow-openai", "agentflow-prometheus", "agentflow-otel[sdk]",
      "agentflow-guard", "agentflow-redis", "agentflow-aiohttp"], ["openai"]),
]
TESTING_EXTRA = "agentflow-core[testing]"
# The build backend goes into the wheelhouse too: the incompatible core is built offline.
BUILD_BACKEND = "hatchling>=1.27"
INCOMPATIBLE_VERSION = "9.0.0"
# The documents whose install-from-the-checkout lines are run as written.
CHECKOUT_DOCUMENTS = [ROOT / "README.md", ROOT / "docs" / "quickstart.md"]
CHECKOUT_LINE = re.compile(r"^\$ (pip install (?:'?\./[^\s#]+\s*)+)", re.M)


class StepFailed(Exception):
    """A step of the check did not do what it should; the message says which and why."""


def main(argv: list[str] | None = None) -> int:
    """Run every scenario against the folder given; returns the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("dist", type=Path, help="the folder holding the built wheels")
    parser.add_argument("--wheelhouse", type=Path, default=ROOT / "build" / "wheelhouse",
                        help="where the third-party wheels are downloaded")
    args = parser.parse_args(argv)
    dist, wheelhouse = args.dist.resolve(), args.wheelhouse.resolve()
    started = time.monotonic()
    try:
        built = built_versions(dist)
        check_coverage(built)
        download_dependencies(dist, wheelhouse)
        with tempfile.TemporaryDirectory(prefix="agentflow-install-") as work:
            for number, (line, providers) in enumerate(SCENARIOS):
                install_and_run(number, Path(work, f"venv{number}"), line, providers, dist,
                                wheelhouse, built)
            refuse_incompatible_core(Path(work), dist, wheelhouse)
            install_from_checkout(Path(work, "venv-checkout"))
    except StepFailed as failure:
        print(f"FAILED: {failure}")
        return 1
    print(f"install check passed: {len(SCENARIOS)} install lines, an incompatible core and "
          f"the docs' checkout lines, in {time.monotonic() - started:.0f} s")
    return 0


def built_versions(dist: Path) -> dict[str, str]:
    """The name and version of each wheel in ``dist``."""
    found = {str(name): str(version)
             for name, version, _, _ in map(parse_wheel_filename,
                                            (p.name for p in dist.glob("*.whl")))}
    if not found:
        raise StepFailed(f"no wheel in {dist}: run `nox -s build` first")
    return found


def check_coverage(built: dict[str, str]) -> None:
    """Every built distribution is installed by some scenario."""
    covered = {canonicalize_name(Requirement(r).name) for line, _ in SCENARIOS for r in line}
    missing = sorted(set(built) - covered)
    if missing:
        raise StepFailed(f"no install scenario in {__file__} installs {missing}")


def download_dependencies(dist: Path, wheelhouse: Path) -> None:
    """The third-party requirements of every wheel (extras included), and the build backend,
    as wheels in ``wheelhouse``: from the ordinary index, with the machine's pip settings."""
    requirements = {BUILD_BACKEND}
    for wheel in dist.glob("*.whl"):
        for line in wheel_metadata(wheel).get_all("Requires-Dist") or []:
            requirement = Requirement(line)
            if canonicalize_name(requirement.name).startswith(PROJECT_PREFIX):
                continue
            if requirement.marker is not None and "extra" in str(requirement.marker):
                requirement.marker = None  # markers on extras hold only `extra == ...` here
            requirements.add(str(requirement))
    wheelhouse.mkdir(parents=True, exist_ok=True)
    listing = wheelhouse / "requirements.txt"
    listing.write_text("\n".join(sorted(requirements)) + "\n")
    run([sys.executable, "-m", "pip", "download", "--quiet", "--only-binary", ":all:",
         "--dest", str(wheelhouse), "--requirement", str(listing)],
        shown=f"pip download -d {wheelhouse.name} <the third-party requirements>")
    ours = [p.name for p in wheelhouse.iterdir()
            if canonicalize_name(p.name.split("-")[0]).startswith(PROJECT_PREFIX)]
    if ours:
        raise StepFailed(f"the wheelhouse holds agentflow distributions: {ours}")


def install_and_run(number: int, venv: Path, line: list[str], providers: list[str],
                    dist: Path, wheelhouse: Path, built: dict[str, str]) -> None:
    """One scenario: a fresh environment, the user's line, the CLI, the demo and the probe."""
    print(f"\n== pip install {' '.join(line)}")
    # The user's own line gets the full `python -m venv` (with the pip it brings); the other
    # scenarios save its time with a venv without pip, driven by this process's pip.
    pip = make_venv(venv, with_pip=number == 0)
    offline = ["--no-index", "--find-links", str(dist), "--find-links", str(wheelhouse)]
    env = venv_env(venv)
    run([*pip, "install", "--quiet", *offline, *line], env=env,
        shown=f"pip install {' '.join(line)}")
    installed = pip_list(pip, env)
    for name, version in installed.items():
        if name.startswith(PROJECT_PREFIX) and built.get(name) != version:
            raise StepFailed(f"{name} {version} was installed; the built one is "
                             f"{built.get(name)}")
    wanted = {canonicalize_name(Requirement(r).name) for r in line}
    if not wanted <= set(installed):
        raise StepFailed(f"not installed: {sorted(wanted - set(installed))}")
    print(f"   agentflow distributions: "
          f"{', '.join(f'{n} {v}' for n, v in installed.items() if n.startswith('agentflow'))}")
    cli = str(venv / "bin" / "agentflow")
    listing = run([cli, "plugins"], env=env, cwd=venv, shown="agentflow plugins")
    for name in wanted - {"agentflow-core"}:
        if name not in listing.output:
            raise StepFailed(f"`agentflow plugins` does not list {name}:\n{listing.output}")
    demo = run([cli, "demo"], env=env, cwd=venv, shown="agentflow demo", check=False)
    if demo.returncode != 0:
        if TESTING_EXTRA not in demo.output:
            raise StepFailed(f"`agentflow demo` failed:\n{demo.output}")
        print(f"   -> exit {demo.returncode}: {last_line(demo.output)}")
        run([*pip, "install", "--quiet", *offline, TESTING_EXTRA], env=env,
            shown=f"pip install '{TESTING_EXTRA}'")
        demo = run([cli, "demo"], env=env, cwd=venv, shown="agentflow demo")
    vendors = re.findall(r"^== (\S+) \(", demo.output, flags=re.M)
    print(f"   -> {len(vendors)} vendor(s) answered: {', '.join(vendors)}")
    probe = run([str(venv / "bin" / "python"), "-I", str(PROBE), *providers], env=env,
                cwd=venv, shown=f"python install_probe.py {' '.join(providers)}")
    for probe_line in probe.output.splitlines():
        print(f"   -> {probe_line.removeprefix('probe: ')}")


def refuse_incompatible_core(work: Path, dist: Path, wheelhouse: Path) -> None:
    """A core built as 9.0.0 installs; agentflow-openai next to it is refused by pip."""
    print(f"\n== an incompatible core ({INCOMPATIBLE_VERSION})")
    copy = work / "core-incompatible"
    shutil.copytree(ROOT / "core", copy, ignore=shutil.ignore_patterns(
        "__pycache__", "*.pyc", "tests", ".pytest_cache", ".hypothesis", ".mypy_cache"))
    set_version(copy, INCOMPATIBLE_VERSION)
    folder = work / "incompatible"
    folder.mkdir()
    plugin = next(dist.glob("agentflow_openai-*.whl"))
    shutil.copy(plugin, folder)
    upper = core_upper_bound(plugin)
    venv = work / "venv-incompatible"
    pip = make_venv(venv, with_pip=False)
    env = venv_env(venv)
    offline = ["--no-index", "--find-links", str(folder), "--find-links", str(wheelhouse)]
    run([*pip, "wheel", "--quiet", "--no-deps", "--no-index", "--find-links",
         str(wheelhouse), "--wheel-dir", str(folder), str(copy)], env=env,
        shown=f"pip wheel <a copy of core/ at version {INCOMPATIBLE_VERSION}>")
    together = run([*pip, "install", *offline, "agentflow-core", "agentflow-openai"],
                   env=env, shown="pip install agentflow-core agentflow-openai", check=False)
    expect_refusal(together, upper)
    run([*pip, "install", "--quiet", *offline, "agentflow-core"], env=env,
        shown="pip install agentflow-core")
    core = pip_list(pip, env).get("agentflow-core")
    if core != INCOMPATIBLE_VERSION:
        raise StepFailed(f"agentflow-core {core} was installed, not {INCOMPATIBLE_VERSION}")
    print(f"   -> agentflow-core {core} installed")
    after = run([*pip, "install", *offline, "agentflow-openai"], env=env,
                shown="pip install agentflow-openai", check=False)
    expect_refusal(after, upper)
    if "agentflow-openai" in pip_list(pip, env):
        raise StepFailed("agentflow-openai was installed next to an incompatible core")


def install_from_checkout(venv: Path) -> None:
    """The docs' ``pip install ./core ...`` lines as written, then ``agentflow demo``."""
    lines = list(dict.fromkeys(line.strip() for document in CHECKOUT_DOCUMENTS
                               for line in CHECKOUT_LINE.findall(document.read_text())))
    if not lines:
        raise StepFailed(f"no `$ pip install ./...` line in {CHECKOUT_DOCUMENTS}")
    print("\n== the docs' install lines, from the checkout")
    pip = make_venv(venv, with_pip=True)
    env = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV" and
           not k.startswith("PYTHON")}
    env.update(VIRTUAL_ENV=str(venv),
               PATH=f"{venv / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}")
    for line in lines:
        arguments = shlex.split(line)[2:]
        run([*pip, "install", "--quiet", *arguments], env=env, cwd=ROOT, shown=line)
    demo = run([str(venv / "bin" / "agentflow"), "demo"], env=env, cwd=venv,
               shown="agentflow demo")
    vendors = re.findall(r"^== (\S+) \(", demo.output, flags=re.M)
    print(f"   -> {len(vendors)} vendor(s) answered: {', '.join(vendors)}")


def expect_refusal(result: Result, upper: str) -> None:
    """pip refused, naming the plugin's bound on the core (``<0.2`` or so) as the reason."""
    if result.returncode == 0:
        raise StepFailed(f"pip installed what it should have refused:\n{result.output}")
    reason = next((line.strip() for line in result.output.splitlines()
                   if "agentflow-core" in line and upper in line), None)
    if reason is None:
        raise StepFailed(f"pip failed, but not over the core's range:\n{result.output}")
    print(f"   -> refused, exit {result.returncode}: {reason}")


def core_upper_bound(wheel: Path) -> str:
    """The plugin wheel's upper bound on the core, as pip prints it: ``<0.2``."""
    for line in wheel_metadata(wheel).get_all("Requires-Dist") or []:
        requirement = Requirement(line)
        if canonicalize_name(requirement.name) == "agentflow-core":
            for spec in requirement.specifier:
                if spec.operator == "<":
                    return str(spec)
    raise StepFailed(f"{wheel.name} sets no upper bound on agentflow-core")


def set_version(project: Path, version: str) -> None:
    """Set the version where the project keeps it: ``__version__``, else pyproject.toml."""
    for init in sorted((project / "src").glob("*/__init__.py")):
        text = init.read_text()
        new, count = re.subn(r"^__version__\s*=.*$", f'__version__ = "{version}"', text,
                             flags=re.M)
        if count:
            init.write_text(new)
            return
    pyproject = project / "pyproject.toml"
    new, count = re.subn(r'^version\s*=.*$', f'version = "{version}"',
                         pyproject.read_text(), count=1, flags=re.M)
    if not count:
        raise StepFailed(f"found no version to change in {project}")
    pyproject.write_text(new)


class Result:
    """What a command did: its exit status and its output (stdout and stderr together)."""

    def __init__(self, returncode: int, output: str) -> None:
        self.returncode = returncode
        self.output = output


def run(command: Sequence[str], *, shown: str | None, env: dict[str, str] | None = None,
        cwd: Path | None = None, check: bool = True) -> Result:
    """Run ``command``; print ``shown`` (unless None) as the transcript's line, with the time."""
    started = time.monotonic()
    completed = subprocess.run(command, env=env, cwd=cwd, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, check=False)
    if shown is not None:
        print(f"$ {shown}  ({time.monotonic() - started:.1f} s)")
    result = Result(completed.returncode, completed.stdout)
    if check and result.returncode != 0:
        raise StepFailed(f"{shlex.join(command)} exited {result.returncode}:\n{result.output}")
    return result


def make_venv(venv: Path, *, with_pip: bool) -> list[str]:
    """A fresh virtual environment; returns the pip command that installs into it: the pip it
    brings (``python -m venv``, as a user makes one), or, ``with_pip`` false (a second faster),
    this process's pip pointed at it with ``--python``."""
    python = getattr(sys, "_base_executable", sys.executable)
    if with_pip:
        run([python, "-m", "venv", str(venv)], shown=f"python -m venv {venv.name}")
        return [str(venv / "bin" / "pip")]
    run([python, "-m", "venv", "--without-pip", str(venv)],
        shown=f"python -m venv --without-pip {venv.name}")
    return [sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python")]


def venv_env(venv: Path) -> dict[str, str]:
    """The environment of a user who activated ``venv``, with no pip configuration at all:
    no index, find-links or constraints from the machine reach the install."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PIP_", "PYTHON", "UV_")) and k != "VIRTUAL_ENV"}
    env.update(PIP_CONFIG_FILE=os.devnull, PIP_DISABLE_PIP_VERSION_CHECK="1",
               VIRTUAL_ENV=str(venv),
               PATH=f"{venv / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}")
    return env


def pip_list(pip: list[str], env: dict[str, str]) -> dict[str, str]:
    """Installed distributions and their versions."""
    listing = run([*pip, "list", "--format", "freeze"], env=env, shown=None)
    return {canonicalize_name(name): version for name, _, version in
            (line.partition("==") for line in listing.output.splitlines() if "==" in line)}


def wheel_metadata(wheel: Path) -> Message:
    """The METADATA of a wheel, parsed."""
    with zipfile.ZipFile(wheel) as archive:
        name = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        return Parser().parsestr(archive.read(name).decode())


def last_line(output: str) -> str:
    """The last non-empty line of a command's output."""
    return next((line.strip() for line in reversed(output.splitlines()) if line.strip()), "")


if __name__ == "__main__":
    sys.exit(main())

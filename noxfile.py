"""Development sessions.

``nox`` alone runs the fast default set: lint, typecheck and ``tests`` (every distribution's
tests in one environment with everything installed, on two workers, the large matrices
sampled). ``nox -t extended`` runs the rest, which CI runs too: each plugin's tests with only
that plugin installed, the full matrices, the load (soak), hostile-server (chaos) and
multi-process (fleet) runs, and the release artefacts built (``build``) and installed as a
user would (``install``).

Each distribution is installed as a real (non-editable) distribution, so the tests see the
entry points exactly as a user's ``pip install`` would.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import nox

if sys.version_info >= (3, 11):
    import tomllib
else:  # nox itself depends on tomli before Python 3.11
    import tomli as tomllib

ROOT = Path(__file__).parent
CORE = "./core"
PLUGINS = sorted(f"./{p.relative_to(ROOT)}" for p in (ROOT / "plugins").glob("agentflow-*")
                 if (p / "pyproject.toml").exists())
# The tutorial's plugin (docs/writing-a-provider-plugin.md) is tested like a first-party one.
TUTORIAL_PLUGIN = "./docs/examples/agentflow-acme"
TESTED_PLUGINS = [*PLUGINS, TUTORIAL_PLUGIN]


def local_requirements(path: str, extras: tuple[str, ...] = ()) -> list[str]:
    """The repository's own distributions that the one at ``path`` depends on, as paths (with
    those its ``extras`` name: an exporter's tests use a vendor plugin).

    They are not on PyPI (and a same-named package there must never be picked up), so they are
    installed from here, in the same command, along with their own local requirements.
    """
    local = {_project_name(p): p for p in PLUGINS}
    found: list[str] = []
    pending = [path]
    while pending:
        project = tomllib.loads((ROOT / pending.pop() / "pyproject.toml").read_text())
        optional = project["project"].get("optional-dependencies", {})
        wanted = [*project["project"].get("dependencies", []),
                  *(req for extra in extras for req in optional.get(extra, []))]
        for requirement in wanted:
            name = re.split(r"[\s<>=!~;\[]", requirement, maxsplit=1)[0].lower()
            if name in local and local[name] not in found:
                found.append(local[name])
                pending.append(local[name])
    return found


def _project_name(path: str) -> str:
    project = tomllib.loads((ROOT / path / "pyproject.toml").read_text())
    return str(project["project"]["name"]).lower()


# Tools are pinned; runtime dependencies are not (the distributions declare ranges).
# trustme makes the throwaway certificate authority of the TLS-failure health check tests.
# pytest-randomly runs the tests in a random order and prints the seed at the top of the run
# ("Using --randomly-seed=N"): replay an order with nox -s <session> -- --randomly-seed=N.
# pytest-xdist spreads a large suite over the cores.
TEST_TOOLS = ["pytest==9.2.0", "hypothesis==6.170.17", "trio==0.35.0", "trustme==1.2.1",
              "pytest-randomly==5.1.0", "pytest-xdist==3.8.0"]
LINT_TOOLS = ["ruff==0.17.6", "import-linter==2.16"]
TYPE_TOOLS = ["mypy==2.4.1", "pytest==9.2.0", "hypothesis==6.170.17", "trio==0.35.0"]
# Release artefacts (RELEASING.md): built by uv with this backend, checked by twine and
# tools/check_wheels.py; tools/check_install.py installs them with pip as a user would.
BUILD_BACKEND = "hatchling==1.33.0"
BUILD_TOOLS = ["twine==7.0.0", "packaging==26.4", "trove-classifiers==2026.9.21.13"]
INSTALL_TOOLS = ["pip==26.3", "packaging==26.4"]
DIST = ROOT / "dist"

nox.options.default_venv_backend = "uv|virtualenv"
nox.options.sessions = ["lint", "typecheck", "tests"]
nox.options.error_on_missing_interpreters = True


@nox.session
def lint(session: nox.Session) -> None:
    """ruff (style, imports, bugbear, pyupgrade, annotations), then import-linter: the layers,
    the public surface plugins may use and the absence of import circles, as declared in
    pyproject.toml."""
    session.install(*LINT_TOOLS)
    session.run("ruff", "check", ".")
    sources = [f"{CORE}/src", *(f"{p}/src" for p in TESTED_PLUGINS)]
    session.run("lint-imports", "--no-cache", env={"PYTHONPATH": ":".join(sources)})


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy, strict on the core and the plugins."""
    session.install(*TYPE_TOOLS, f"{CORE}[testing]", *TESTED_PLUGINS)
    session.run("mypy", "core/src", *(f"{p}/src" for p in TESTED_PLUGINS))


def under_ci() -> bool:
    """Whether this runs in CI (``CI`` set to true, as CI services and .ci/run do)."""
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


@contextlib.contextmanager
def cpu_load(session: nox.Session) -> Iterator[None]:
    """In CI, every core kept busy by tools/burn_cpu.py for as long as the block runs, so a
    test that depends on the machine being idle fails there, not on a user's busy laptop.

    The burner stops when the block ends, after an hour at most, and by itself if this
    process dies. Outside CI (or with ``AGENTFLOW_BURN_CPU=0``) nothing is started;
    ``AGENTFLOW_BURN_CPU=1`` starts it anywhere.
    """
    wanted = os.environ.get("AGENTFLOW_BURN_CPU", "1" if under_ci() else "0") == "1"
    if not wanted:
        yield
        return
    session.log(f"CPU load: tools/burn_cpu.py, one busy process per core ({os.cpu_count()})")
    burner = subprocess.Popen([sys.executable, str(ROOT / "tools" / "burn_cpu.py"),
                               "--max-seconds", "3600", "--parent", str(os.getpid())])
    try:
        yield
    finally:
        burner.terminate()
        try:
            burner.wait(20)
        except subprocess.TimeoutExpired:
            burner.kill()
            burner.wait()


def run_pytest(session: nox.Session, *args: str, workers: int = 0,
               env: dict[str, str] | None = None) -> None:
    """pytest with ``args`` under CPU load in CI, on ``workers`` xdist processes (0: in this
    one); ``posargs`` come last and win (``-n 0``, ``-p no:randomly``, a single file)."""
    parallel = ["-n", str(workers)] if workers else []
    with cpu_load(session):
        session.run("pytest", *parallel, "--durations=5", *args, *session.posargs, env=env)


#: What the default ``tests`` session leaves to the extended sessions: the load tests, the
#: hostile-server suite, the multi-process fleet runs and the rest of the large matrices.
EXTENDED_MARKERS = ("soak", "chaos", "fleet", "extended")


@nox.session
def tests(session: nox.Session) -> None:
    """The default test run: the core's, every plugin's and the integration tests, in one
    environment with everything installed, on two pytest-xdist workers. Large matrices run a
    sample here (the cases marked ``extended`` are left out: the other presets, the other
    vendors of the secret-leak matrix) and hypothesis its ``dev`` profile (50 examples); the
    rest is ``nox -t extended``'s."""
    ensure_redis_server(session)
    session.install(*TEST_TOOLS, "opentelemetry-sdk>=1.27", f"{CORE}[testing]",
                    *(f"{p}[test]" for p in TESTED_PLUGINS))
    run_pytest(session, "core/tests", *(f"{p}/tests" for p in TESTED_PLUGINS), "tests",
               "-m", " and ".join(f"not {marker}" for marker in EXTENDED_MARKERS),
               workers=2, env={"AGENTFLOW_HYPOTHESIS_PROFILE": "dev"})


@nox.session(tags=["extended"])
def tests_core(session: nox.Session) -> None:
    """The core's own tests, with the core installed alone (no vendor plugin); the soak tests
    are tests_soak's."""
    session.install(*TEST_TOOLS, f"{CORE}[testing]")
    run_pytest(session, "core/tests", "-m", "not soak", workers=2)


@nox.session(tags=["extended"])
def tests_soak(session: nox.Session) -> None:
    """The load tests: thousands of concurrent calls through limits, over loopback HTTP,
    leaving no slot, connection or memory behind (marked ``soak``; about a minute)."""
    session.install(*TEST_TOOLS, f"{CORE}[testing]")
    run_pytest(session, "core/tests", "-m", "soak", workers=2)


@nox.session(tags=["extended"])
@nox.parametrize("plugin", TESTED_PLUGINS, ids=[Path(p).name for p in TESTED_PLUGINS])
def tests_plugin(session: nox.Session, plugin: str) -> None:
    """One plugin's tests, with only the core and that plugin (and the repository's plugins it
    depends on: agentflow-moonshot needs agentflow-openai) installed."""
    session.install(*TEST_TOOLS, f"{CORE}[testing]", *local_requirements(plugin, ("test",)),
                    f"{plugin}[test]")
    fleet: list[str] = []
    if Path(plugin).name == "agentflow-redis":
        ensure_redis_server(session)
        fleet = ["-m", "not fleet"]  # its multi-process runs have their own session
    run_pytest(session, f"{plugin}/tests", *fleet, workers=2)


def ensure_redis_server(session: nox.Session) -> None:
    """agentflow-redis tests run against a real redis-server (never skipped in CI): install
    Debian's package when it is missing (CI runs as root on a fresh machine)."""
    import shutil

    if shutil.which("redis-server") is None:
        session.run("apt-get", "update", "-q", external=True)
        session.run("apt-get", "install", "-y", "-q", "redis-server", external=True,
                    env={"DEBIAN_FRONTEND": "noninteractive"})


@nox.session(tags=["extended"])
def tests_redis_fleet(session: nox.Session) -> None:
    """agentflow-redis's multi-process proof (about a minute): 4 processes x 2 event loops
    against the fake server with limits shared through a real redis-server, the same with
    in-process limits, and Redis killed in the middle of a run."""
    plugin = "./plugins/agentflow-redis"
    session.install(*TEST_TOOLS, f"{CORE}[testing]", *local_requirements(plugin, ("test",)),
                    f"{plugin}[test]")
    ensure_redis_server(session)
    session.run("pytest", f"{plugin}/tests", "-m", "fleet", "-s", *session.posargs)


@nox.session(tags=["extended"])
def tests_integration(session: nox.Session) -> None:
    """Everything installed together: discovery, end to end over loopback HTTP, the CLI."""
    # The OpenTelemetry SDK too, so that tests/test_secret_leaks.py looks into real spans.
    session.install(*TEST_TOOLS, "opentelemetry-sdk>=1.27", f"{CORE}[testing]",
                    *TESTED_PLUGINS)
    run_pytest(session, "tests", "-m", "not chaos", workers=2)


@nox.session(tags=["extended"])
def chaos(session: nox.Session) -> None:
    """The hostile-server suite: every behaviour of agentflow.testing.hostile against every
    installed vendor, under asyncio and trio (tests/chaos, marked ``chaos``; about two minutes
    on two workers)."""
    session.install(*TEST_TOOLS, f"{CORE}[testing]", *TESTED_PLUGINS)
    run_pytest(session, "tests/chaos", "-m", "chaos", workers=2)


@nox.session(tags=["extended"])
def build(session: nox.Session) -> None:
    """An sdist and a wheel of the core and of every plugin under plugins/, in dist/, checked:
    ``twine check --strict``, then tools/check_wheels.py (contents, metadata, entry points)."""
    session.install(*BUILD_TOOLS)
    shutil.rmtree(DIST, ignore_errors=True)
    constraints = Path(session.create_tmp()) / "build-constraints.txt"
    constraints.write_text(f"{BUILD_BACKEND}\n")
    distributions = [CORE, *PLUGINS]
    for path in distributions:
        # The wheel is built from the sdist, so a file missing from the sdist shows here.
        session.run("uv", "build", "--quiet", "--build-constraint", str(constraints),
                    "--out-dir", str(DIST), path)
    artefacts = sorted(str(p) for p in DIST.iterdir() if p.name.endswith((".whl", ".tar.gz")))
    session.run("twine", "check", "--strict", *artefacts)
    session.run("python", "tools/check_wheels.py", str(DIST),
                "--expect", *(_project_name(p) for p in distributions))


@nox.session(tags=["extended"], requires=["build"])
def install(session: nox.Session) -> None:
    """The user's line, ``pip install agentflow-core agentflow-openai`` (and each other plugin),
    in fresh virtual environments from dist/ alone; then the CLI, ``agentflow demo`` and a call
    through the Python API against the fake server; and a core of an incompatible version that
    pip must refuse next to a plugin. See tools/check_install.py."""
    session.install(*INSTALL_TOOLS)
    session.run("python", "tools/check_install.py", str(DIST))


@nox.session
def demo(session: nox.Session) -> None:
    """``agentflow demo``: every installed vendor against the fake server, offline."""
    session.install(f"{CORE}[testing]", *PLUGINS)
    session.run("agentflow", "demo")


@nox.session
def bench(session: nox.Session) -> None:
    """Speed and memory against raw httpx on the same fake server (not part of CI)."""
    # Compiled bytecode, as a user's pip install leaves it: import times are then comparable.
    session.install(f"{CORE}[testing]", *PLUGINS, "httpx-sse",
                    env={"UV_COMPILE_BYTECODE": "1"})
    session.run("python", "bench/sse_decoder.py")
    # agentflow's own work per call and per chunk, the network out of the figure: the steady
    # measure of a change to the hot paths.
    session.run("python", "bench/own_cost.py")
    session.run("python", "bench/own_cost.py", "--plugins", "all")
    session.run("python", "bench/run.py", *session.posargs)
    # The main table of docs/performance.md: interleaved rounds against raw httpx, raw aiohttp
    # and the official SDKs (and LiteLLM when it is installed; the session does not install
    # it, its dependency tree takes minutes), and the plot of cost per request against the
    # number in flight (docs/performance-in-flight.png). 16 minutes on 2 busy cores.
    session.install("aiohttp", "openai", "anthropic", "matplotlib")
    session.run("python", "bench/peers.py")
    # Limits shared through Redis (agentflow-redis), and why it speaks RESP itself.
    ensure_redis_server(session)
    session.install("coredis==6.9.0")
    session.run("python", "bench/redis_limiter.py")
    session.run("python", "bench/redis_client_choice.py")

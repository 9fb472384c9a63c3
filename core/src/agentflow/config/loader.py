"""Validating and loading configuration files.

One pipeline serves both :func:`validate_config` and :func:`load_config`, and it never stops
at the first problem: YAML is parsed (a syntax error is the only thing that ends it early),
credential-named keys are refused, ``${VAR}`` references expanded, the data structured into
the config classes, and cross-references checked against the installed plugins. Every
problem becomes an :class:`Issue` at the line and column of the key or value at fault.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Collection, Iterable, Mapping
from pathlib import Path

import attrs

from agentflow.config import _references, _secrets
from agentflow.config._problems import Problem, describe_value
from agentflow.config._source import SourceMap, YamlSyntaxError, parse_yaml
from agentflow.config._structure import structure_config
from agentflow.config.interpolate import expand_tree
from agentflow.config.models import Config
from agentflow.config.report import Issue, ValidationReport
from agentflow.errors import ConfigurationError
from agentflow.types import ModelInfo, ProviderSpec

__all__ = ["load_config", "load_config_text", "validate_config", "validate_config_text"]

PathLike = str | os.PathLike[str]


def validate_config(
    path: PathLike,
    *,
    providers: Mapping[str, ProviderSpec],
    environ: Mapping[str, str] | None = None,
    catalog: Mapping[str, ModelInfo] | None = None,
    plugins: Collection[str] | None = None,
    check_settings: Callable[[Config], Iterable[ConfigurationError]] | None = None,
) -> ValidationReport:
    """Every problem in the configuration file at ``path``, each located.

    :param providers: the installed vendors (``PluginHost.providers()``); vendor names are
        checked against them, and their key variables looked up.
    :param environ: where ``${VAR}`` and key variables are read (default ``os.environ``).
    :param catalog: the installed catalogs (``PluginHost.catalog()``); when given, a model
        without ``vendor`` must be in it.
    :param plugins: the names of the installed plugins; a ``plugins.<name>`` section none of
        them is named after is a warning.
    :param check_settings: the installed plugins' own checks of their sections
        (``agentflow_check_settings``), run on the structured configuration without applying
        it; each error it gives is reported at its line and column.
    :raises ConfigurationError: when the file cannot be read at all.
    """
    config, report = _analyse(_read(path), str(path), providers, catalog, environ,
                              base_dir=Path(path).parent, plugins=plugins)
    if config is None or check_settings is None:
        return report
    config = attrs.evolve(config, source=Path(path))
    found: list[Issue] = []
    try:
        errors = list(check_settings(config))
    except ConfigurationError as exc:  # a plugin that raised instead of returning
        errors = [exc]
    for error in errors:
        found += error.issues or (Issue(file=report.file, path="plugins", line=1, column=1,
                                        message=str(error)),)
    return attrs.evolve(report, issues=(*report.issues, *found))


def validate_config_text(
    text: str,
    *,
    source_name: str = "<string>",
    providers: Mapping[str, ProviderSpec] | None = None,
    environ: Mapping[str, str] | None = None,
    catalog: Mapping[str, ModelInfo] | None = None,
) -> ValidationReport:
    """:func:`validate_config` for text; issues name ``source_name`` as their file.

    With ``providers=None`` nothing is checked that needs the installed plugins.
    """
    return _analyse(text, source_name, providers, catalog, environ)[1]


def load_config(
    path: PathLike,
    *,
    providers: Mapping[str, ProviderSpec] | None = None,
    environ: Mapping[str, str] | None = None,
    catalog: Mapping[str, ModelInfo] | None = None,
) -> Config:
    """Read, check and structure the configuration file at ``path``.

    Warnings do not stop loading; errors do. With ``providers`` (and ``catalog``) given,
    vendor names are checked too.

    :raises ConfigurationError: listing every located error, with ``.issues`` set.
    """
    config, report = _analyse(_read(path), str(path), providers, catalog, environ,
                              base_dir=Path(path).parent)
    if config is None or not report.is_valid:
        raise _error(report)
    return attrs.evolve(config, source=Path(path))


def load_config_text(
    text: str,
    *,
    source_name: str = "<string>",
    providers: Mapping[str, ProviderSpec] | None = None,
    environ: Mapping[str, str] | None = None,
    catalog: Mapping[str, ModelInfo] | None = None,
) -> Config:
    """:func:`load_config` for text (tests, embedded configurations); relative paths in it
    are taken from the working directory."""
    config, report = _analyse(text, source_name, providers, catalog, environ)
    if config is None or not report.is_valid:
        raise _error(report)
    return config


#: The largest configuration file read; a real one is a few KiB.
MAX_CONFIG_BYTES = 1024 * 1024


def _read(path: PathLike) -> str:
    """The text of the file at ``path``: a regular file (not a FIFO, a device or a folder) of
    at most :data:`MAX_CONFIG_BYTES`, in UTF-8."""
    shown = repr(os.fspath(path)) if "\0" in os.fspath(path) else os.fspath(path)
    try:
        with open(path, "rb", opener=_open_regular) as file:
            data = file.read(MAX_CONFIG_BYTES + 1)
    except FileNotFoundError:
        raise ConfigurationError(f"configuration file {shown} does not exist") from None
    except _NotARegularFile as exc:
        raise ConfigurationError(
            f"configuration file {shown} is {exc.kind}, not a regular file; point at the YAML "
            "file itself") from None
    except ValueError:  # a NUL byte in the path
        raise ConfigurationError(
            f"configuration file {shown}: the path contains a NUL byte") from None
    except OSError as exc:
        raise ConfigurationError(
            f"cannot read configuration file {shown}: {exc.strerror or exc}") from None
    if len(data) > MAX_CONFIG_BYTES:
        raise ConfigurationError(
            f"configuration file {shown} is larger than {MAX_CONFIG_BYTES // 1024} KiB; a "
            "configuration is a few KiB (is this the right file?)")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ConfigurationError(
            f"{os.fspath(path)}:{line}: the file is not UTF-8 text; save it as UTF-8") from None


class _NotARegularFile(OSError):
    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.kind = kind


def _open_regular(path: str, flags: int) -> int:
    """``os.open`` that refuses, without blocking, anything but a regular file: opening a FIFO
    for reading would wait for a writer for ever, and /dev/zero never ends."""
    import stat

    descriptor = os.open(path, flags | getattr(os, "O_NONBLOCK", 0))
    mode = os.fstat(descriptor).st_mode
    if not stat.S_ISREG(mode):
        os.close(descriptor)
        kind = ("a folder" if stat.S_ISDIR(mode) else "a FIFO (named pipe)" if stat.S_ISFIFO(mode)
                else "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else "a socket")
        raise _NotARegularFile(kind)
    if hasattr(os, "O_NONBLOCK"):
        os.set_blocking(descriptor, True)
    return descriptor


def _error(report: ValidationReport) -> ConfigurationError:
    errors = report.errors
    count = f"{len(errors)} error{'s' if len(errors) != 1 else ''}"
    lines = "\n".join(f"  {issue}" for issue in errors)
    return ConfigurationError(
        f"configuration {report.file} has {count}:\n{lines}", issues=report.issues)


def _analyse(
    text: str,
    file: str,
    providers: Mapping[str, ProviderSpec] | None,
    catalog: Mapping[str, ModelInfo] | None,
    environ: Mapping[str, str] | None,
    *,
    base_dir: Path | None = None,
    plugins: Collection[str] | None = None,
) -> tuple[Config | None, ValidationReport]:
    env = os.environ if environ is None else environ
    folder = Path.cwd() if base_dir is None else base_dir
    try:
        data, source, problems = parse_yaml(text)
    except YamlSyntaxError as exc:
        issue = Issue(file=file, path="", line=exc.line, column=exc.column, message=exc.message)
        return None, ValidationReport(file=file, issues=(issue,))
    if data is None:
        data = {}
    if not isinstance(data, dict):
        problems.append(Problem((), "the file must be a mapping with the sections models, "
                                    f"providers and defaults, not {describe_value(data)}"))
        return None, _report(file, problems, source)
    data, found = _secrets.strip_literal_keys(data)
    problems += found
    data, found = expand_tree(data, env)
    problems += found
    config, found = structure_config(data)
    problems += found
    problems += _references.check_http(data)
    problems += _references.check_ca_bundles(data, folder)
    problems += _references.check_fallbacks(data, catalog)
    if providers is not None:
        problems += _references.check_vendors(data, providers, catalog)
        problems += _references.check_api_keys(data, providers, env)
    if plugins is not None:
        problems += _references.check_plugin_sections(data, plugins)
    if config is not None:
        config = attrs.evolve(_absolute_paths(config, folder), positions=source)
    return config, _report(file, problems, source)


def _absolute_paths(config: Config, folder: Path) -> Config:
    """``ca_bundle`` paths made absolute, as the file meant them: relative to its folder."""
    def absolute(path: str | None) -> str | None:
        return None if path is None else str((folder / path).resolve())

    providers = {name: attrs.evolve(entry, ca_bundle=absolute(entry.ca_bundle))
                 for name, entry in config.providers.items()}
    defaults = attrs.evolve(config.defaults, ca_bundle=absolute(config.defaults.ca_bundle))
    return attrs.evolve(config, providers=providers, defaults=defaults)


def _report(file: str, problems: list[Problem], source: SourceMap) -> ValidationReport:
    issues = []
    for problem in problems:
        line, column = source.locate(problem.path, problem.anchor)
        issues.append(Issue(file=file, path=".".join(str(step) for step in problem.path),
                            line=line, column=column, message=problem.message,
                            severity=problem.severity))
    return ValidationReport(file=file, issues=tuple(issues))

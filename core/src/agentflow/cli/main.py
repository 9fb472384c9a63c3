"""The ``agentflow`` command.

Exit status: 0 on success, 1 when a provider or the runtime failed, 2 for usage or configuration
errors. An error prints one line on stderr; ``--debug`` adds the traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TextIO

__all__ = ["main"]

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2
CONFIG_HELP = ("the configuration file to use (default: the file $AGENTFLOW_CONFIG names, else "
               "./agentflow.yml, else the one in the user configuration folder)")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (the console script exits with it)."""
    parser = _parser()
    args = parser.parse_args(argv)
    warnings.formatwarning = _one_line_warning
    if not getattr(args, "handler", None):
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        return int(args.handler(args))
    except KeyboardInterrupt:
        print("agentflow: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if args.debug:
            import traceback

            traceback.print_exc()
        from agentflow.errors import ConfigurationError, ModelNotFoundError, ValidationError

        usage = isinstance(exc, (ConfigurationError, ModelNotFoundError, ValidationError))
        if isinstance(exc, ValidationError) and exc.answer is not None:
            usage = False  # the model's answer did not fit: not a mistake in the command
        kind = type(exc).__name__
        print(f"agentflow: error: {kind}: {exc}", file=sys.stderr)
        return EXIT_USAGE if usage else EXIT_FAILURE


def _one_line_warning(message: Warning | str, category: type[Warning], filename: str,
                      lineno: int, line: str | None = None) -> str:
    return f"agentflow: warning: {message}\n"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="agentflow", description="One clean API for many LLM providers.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    # --config is taken by the commands that read a configuration, and means the same in each:
    # this file instead of the discovered one. The others refuse it rather than ignore it.
    debug = argparse.ArgumentParser(add_help=False)
    debug.add_argument("--debug", action="store_true", help="show tracebacks of errors")
    common = argparse.ArgumentParser(add_help=False, parents=[debug])
    common.add_argument("--config", "-c", metavar="FILE", help=CONFIG_HELP)
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")

    run = commands.add_parser("run", parents=[common], help="send one prompt to a model")
    run.add_argument("prompt", help="the prompt; '-' reads it from standard input")
    run.add_argument("-m", "--model", required=True, help="model name, e.g. gpt-4o")
    run.add_argument("--system", help="system prompt")
    run.add_argument("--temperature", type=float,
                     help="sampling temperature (default: the configuration's, else the "
                          "vendor's)")
    run.add_argument("--max-tokens", type=int, metavar="N",
                     help="most tokens in the answer (default: the configuration's, else the "
                          "vendor's)")
    run.add_argument("--stream", action="store_true", help="print the answer as it arrives")
    run.add_argument("--image", action="append", default=[], metavar="PATH_OR_URL",
                     help="attach an image (a file, an https:// or data: URL); repeatable")
    run.add_argument("--schema", metavar="FILE",
                     help="ask for JSON matching the JSON Schema in FILE; prints the parsed "
                          "value")
    run.add_argument("--json", action="store_true",
                     help="print the whole response (text, usage, finish reason) as JSON")
    run.add_argument("--metrics", action="store_true",
                     help="then print the call's figures (latency, tokens, cost) to stderr, "
                          "or add them to the --json output")
    run.set_defaults(handler=_cmd_run)

    models = commands.add_parser("models", parents=[common], help="list usable models")
    models.add_argument("--json", action="store_true", help="print the models as JSON")
    models.set_defaults(handler=_cmd_models)

    validate = commands.add_parser("validate", parents=[common],
                                   help="check a configuration file")
    validate.add_argument("file", nargs="?",
                          help="the file to check (default: --config, else the discovered "
                               "file, as for every command)")
    validate.set_defaults(handler=_cmd_validate)

    plugins = commands.add_parser("plugins", parents=[debug], help="list installed plugins")
    plugins.add_argument("--json", action="store_true", help="print the plugins as JSON")
    plugins.set_defaults(handler=_cmd_plugins)

    config = commands.add_parser("config", help="configuration helpers")
    config_commands = config.add_subparsers(title="subcommands", metavar="SUBCOMMAND")
    config.set_defaults(handler=_list_subcommands(config))
    schema = config_commands.add_parser("schema", parents=[debug],
                                        help="print the JSON Schema of the configuration file")
    schema.set_defaults(handler=_cmd_config_schema)

    doctor = commands.add_parser(
        "doctor", parents=[common],
        help="check that each configured provider answers and accepts its key")
    doctor.add_argument("--timeout", type=float, default=10.0, metavar="S",
                        help="limit of each check in seconds (default 10)")
    doctor.add_argument("--slow-after", type=float, default=2.0, metavar="S",
                        help="an answer slower than this is reported as slow (default 2)")
    doctor.add_argument("--json", action="store_true", help="print the results as JSON")
    doctor.set_defaults(handler=_cmd_doctor)

    demo = commands.add_parser(
        "demo", parents=[debug],
        help="run every installed vendor against the built-in fake server (offline)")
    demo.set_defaults(handler=_cmd_demo)
    parser.set_defaults(debug=False, handler=None)
    return parser


def _list_subcommands(parser: argparse.ArgumentParser) -> Callable[[argparse.Namespace], int]:
    """A handler for a command that needs a subcommand: its usage and subcommands, status 2."""

    def handler(args: argparse.Namespace) -> int:
        parser.print_help(sys.stderr)
        return EXIT_USAGE

    return handler


def _version() -> str:
    from agentflow import __version__

    return __version__


def _run_async(func: Callable[[], Any]) -> Any:
    import anyio

    return anyio.run(func)


def _init(args: argparse.Namespace) -> None:
    from agentflow._api.facade import AgentFlow

    AgentFlow.runtime().load_config(args.config)


# commands -------------------------------------------------------------------------------------


def _cmd_run(args: argparse.Namespace) -> int:
    from agentflow._api.facade import AgentFlow

    _init(args)
    prompt = sys.stdin.read() if args.prompt == "-" else args.prompt
    builder = AgentFlow.model(args.model).prompt(prompt)
    if args.system:
        builder.system(args.system)
    if args.temperature is not None:
        builder.temperature(args.temperature)
    if args.max_tokens is not None:
        builder.max_tokens(args.max_tokens)
    for image in args.image:
        builder.image(image)
    if args.schema:
        builder.json_schema(_read_schema(args.schema))
    metrics = None
    if args.metrics:
        from agentflow._observe.events import MetricsCollector

        metrics = MetricsCollector()
        builder.with_metrics(metrics)

    def figures() -> dict[str, Any]:
        return {"metrics": metrics.get_metrics_by_prefix("llm.")} if metrics else {}

    async def execute() -> None:
        try:
            if args.stream:
                stream = await builder.execute_streaming()
                async with stream:
                    async for chunk in stream:
                        sys.stdout.write(chunk.content)
                        sys.stdout.flush()
                final = stream.final_chunk
                sys.stdout.write("\n")
                if args.json and final is not None:
                    _print_json({"finish_reason": final.finish_reason,
                                 "usage": _usage_dict(final.usage), **figures()})
            elif args.json:
                response = await builder.execute_response()
                parsed = {"parsed": response.parsed} if args.schema else {}
                _print_json({"text": response.text, **parsed, "model": response.model,
                             "provider": response.provider,
                             "finish_reason": response.finish_reason,
                             "usage": _usage_dict(response.usage),
                             "request_id": response.request_id, **figures()})
            elif args.schema:
                _print_json(await builder.execute_parsed())
            else:
                print(await builder.execute())
        finally:
            await AgentFlow.aclose()
            if metrics is not None and not args.json:
                from agentflow._observe.table import metrics_table

                sys.stderr.write(metrics_table(metrics))

    _run_async(execute)
    return EXIT_OK


def _read_schema(path: str) -> Any:
    """The JSON Schema in the file ``path`` (JSON, or YAML)."""
    from agentflow.errors import ValidationError

    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ValidationError(f"--schema {path}: {exc.strerror}", parameter="schema") from None
    try:
        return json.loads(text)
    except ValueError:
        from ruamel.yaml import YAML
        from ruamel.yaml.error import YAMLError

        try:
            return YAML(typ="safe").load(text)
        except YAMLError as exc:
            raise ValidationError(f"--schema {path} is neither JSON nor YAML: {exc}",
                                  parameter="schema") from None


def _cmd_models(args: argparse.Namespace) -> int:
    from agentflow._api.facade import AgentFlow

    _init(args)
    _warn_without_vendor_plugin()
    rows = AgentFlow.runtime().registry.describe()
    if args.json:
        _print_json(rows)
        return EXIT_OK
    _print_table(["MODEL", "VENDOR", "MODEL ID", "FROM"],
                 [[r["name"], r["vendor"], r["model_id"], r["source"]] for r in rows])
    return EXIT_OK


def _cmd_validate(args: argparse.Namespace) -> int:
    from agentflow._api.facade import AgentFlow

    path = _file_to_validate(args.file, args.config)
    report = _run_async(lambda: AgentFlow.validate_config(path))
    for issue in report.issues:
        print(issue)
    errors, warnings = len(report.errors), len(report.warnings)
    summary = f"{path}: {errors} error(s), {warnings} warning(s)"
    print(summary if report.issues else f"{path}: valid", file=sys.stderr)
    return EXIT_OK if report.is_valid else EXIT_USAGE


def _file_to_validate(file: str | None, config: str | None) -> Path:
    """The file named, else the one --config names, else the discovered one (as every other
    command finds it)."""
    from agentflow.config import discover_config_path
    from agentflow.errors import ConfigurationError

    if file is not None and config is not None and Path(file) != Path(config):
        raise ConfigurationError(f"two files to validate, {file} and --config {config}; "
                                 "name one")
    named = file if file is not None else config
    path = Path(named) if named is not None else discover_config_path()
    if path is None:
        raise ConfigurationError(
            "no configuration file to validate: none is named, $AGENTFLOW_CONFIG is not set "
            "and there is no agentflow.yml here or in the user configuration folder; name "
            "one: agentflow validate FILE")
    return path


def _cmd_plugins(args: argparse.Namespace) -> int:
    from agentflow._plugins.host import get_plugin_host

    host = get_plugin_host()
    infos = host.plugin_infos()
    conflicts = host.provider_conflicts()  # two plugins for one provider: one is ignored
    for conflict in conflicts:
        print(f"agentflow: error: {conflict.describe()}", file=sys.stderr)
    _warn_without_vendor_plugin()
    # A plugin that failed to load is listed, and the command fails: scripts and CI notice.
    status = EXIT_FAILURE if conflicts or any(i.error for i in infos) else EXIT_OK
    if args.json:
        _print_json([{"name": i.name, "distribution": i.distribution, "version": i.version,
                      "providers": list(i.providers), "hooks": list(i.hooks),
                      "error": i.error} for i in infos])
        return status
    rows = [[i.name, f"{i.distribution or '-'} {i.version or ''}".strip(),
             ", ".join(i.providers) or "-",
             f"FAILED: {i.error}" if i.error else ", ".join(
                 h.removeprefix("agentflow_") for h in i.hooks)] for i in infos]
    _print_table(["PLUGIN", "DISTRIBUTION", "PROVIDERS", "HOOKS"], rows)
    return status


def _warn_without_vendor_plugin() -> None:
    """With no vendor plugin installed, nothing can be called: say what to install."""
    from agentflow._plugins.host import get_plugin_host
    from agentflow.config._install_hints import NO_VENDOR_PLUGIN

    if not get_plugin_host().providers():
        print(f"agentflow: {NO_VENDOR_PLUGIN}", file=sys.stderr)


def _cmd_config_schema(args: argparse.Namespace) -> int:
    from agentflow._plugins.host import get_plugin_host
    from agentflow.config import config_json_schema

    _print_json(config_json_schema(get_plugin_host().providers()))
    return EXIT_OK


def _cmd_doctor(args: argparse.Namespace) -> int:
    from agentflow.cli.doctor import run_doctor

    _init(args)
    return run_doctor(timeout=args.timeout, slow_after=args.slow_after, as_json=args.json)


def _cmd_demo(args: argparse.Namespace) -> int:
    from agentflow.cli.demo import run_demo

    return run_demo(sys.stdout)


# output -----------------------------------------------------------------------------------------


def _usage_dict(usage: Any) -> dict[str, Any] | None:
    if usage is None:
        return None
    return {"prompt_tokens": usage.prompt_tokens, "completion_tokens": usage.completion_tokens,
            "total_tokens": usage.total_tokens}


def _print_json(value: Any) -> None:
    print(json.dumps(value, indent=2, ensure_ascii=False))


def _print_table(headers: list[str], rows: list[list[str]], out: TextIO | None = None) -> None:
    out = out or sys.stdout
    table = [headers, *rows]
    widths = [max(len(str(cell)) for cell in column) for column in zip(*table, strict=True)]
    for row in table:
        cells = (str(cell).ljust(width) for cell, width in zip(row, widths, strict=True))
        out.write("  ".join(cells).rstrip() + "\n")


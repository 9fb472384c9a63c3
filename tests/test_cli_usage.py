"""The ``agentflow`` command's usage: every option explained, ``--config`` meaning the same in
every command that takes it, ``validate`` finding the file as every other command does, and a
command group alone listing its subcommands.

The commands run in this process (``main(argv)`` returns the exit status), in a fresh working
directory with no user configuration, so discovery sees only what a test puts there.
"""

from __future__ import annotations

import argparse

import pytest

from agentflow.cli.main import _parser, main

BAD = "models:\n  m:\n    vendor: openai\n    temprature: 0.5\n"
GOOD = "models:\n  m:\n    vendor: openai\n    temperature: 0.5\n"


@pytest.fixture(autouse=True)
def nowhere(tmp_path, monkeypatch):
    """A working directory and a user configuration folder with nothing in them."""
    monkeypatch.delenv("AGENTFLOW_CONFIG", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "user-config"))
    monkeypatch.setenv("OPENAI_API_KEY", "placeholder")  # no warning about an unset key
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    return work


def parsers(parser: argparse.ArgumentParser, name: str = "agentflow"):
    yield name, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub_name, sub in action.choices.items():
                yield from parsers(sub, f"{name} {sub_name}")


def test_every_option_and_argument_has_help():
    missing = [f"{name} {'/'.join(action.option_strings) or action.dest}"
               for name, parser in parsers(_parser()) for action in parser._actions
               if not isinstance(action, argparse._SubParsersAction)
               and not (action.help or "").strip()]
    assert missing == []


def test_every_command_and_subcommand_has_help():
    for name, parser in parsers(_parser()):
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                helps = {choice.dest: choice.help for choice in action._choices_actions}
                assert set(helps) == set(action.choices), name
                assert all(helps.values()), (name, helps)


def test_config_alone_lists_its_subcommands_and_exits_2(capsys):
    assert main(["config"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: agentflow config")
    assert "schema    print the JSON Schema of the configuration file" in err


def test_validate_without_a_file_checks_the_discovered_one(nowhere, capsys):
    (nowhere / "agentflow.yml").write_text(BAD)
    assert main(["validate"]) == 2
    out, err = capsys.readouterr()
    found = nowhere / "agentflow.yml"
    assert out.startswith(f"{found}:4:5: models.m.temprature: unknown key 'temprature'")
    assert err == f"{found}: 1 error(s), 0 warning(s)\n"


def test_validate_without_a_file_follows_agentflow_config(nowhere, monkeypatch, capsys):
    (nowhere / "agentflow.yml").write_text(BAD)  # the variable wins, as for every command
    (nowhere / "staging.yml").write_text(GOOD)
    monkeypatch.setenv("AGENTFLOW_CONFIG", "staging.yml")
    assert main(["validate"]) == 0
    assert capsys.readouterr().err.endswith("staging.yml: valid\n")


def test_validate_without_a_file_and_none_to_find_says_what_to_do(capsys):
    assert main(["validate"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("agentflow: error: ConfigurationError: no configuration file to "
                          "validate")
    assert err.rstrip().endswith("name one: agentflow validate FILE")


@pytest.mark.parametrize("option", ["--config", "-c"])
def test_validate_takes_config_as_every_command_does(nowhere, option, capsys):
    (nowhere / "agentflow.yml").write_text(GOOD)  # discovered, but the named file wins
    (nowhere / "other.yml").write_text(BAD)
    assert main(["validate", option, "other.yml"]) == 2
    assert capsys.readouterr().err == "other.yml: 1 error(s), 0 warning(s)\n"


def test_validate_refuses_two_different_files(nowhere, capsys):
    assert main(["validate", "a.yml", "--config", "b.yml"]) == 2
    assert "two files to validate, a.yml and --config b.yml; name one" in capsys.readouterr().err


@pytest.mark.parametrize("command", [["run", "-m", "m", "hi"], ["models"], ["validate"],
                                     ["doctor"]])
def test_commands_that_read_a_configuration_take_config(command):
    args = _parser().parse_args([*command, "--config", "x.yml"])
    assert args.config == "x.yml"


@pytest.mark.parametrize("command", [["plugins"], ["demo"], ["config", "schema"]])
def test_commands_that_read_no_configuration_refuse_config(command, capsys):
    with pytest.raises(SystemExit) as caught:
        main([*command, "--config", "x.yml"])
    assert caught.value.code == 2
    assert "unrecognized arguments: --config x.yml" in capsys.readouterr().err


def test_models_reads_the_file_config_names(nowhere, capsys):
    (nowhere / "mine.yml").write_text(
        "models:\n  house-model:\n    vendor: openai\n    model_id: gpt-4o-mini\n")
    assert main(["models", "--config", "mine.yml"]) == 0
    assert "house-model" in capsys.readouterr().out

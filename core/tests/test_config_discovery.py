"""Which file is used when none is named: AGENTFLOW_CONFIG, ./agentflow.yml, user dir, none."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from agentflow.config import discover_config_path, discovery
from agentflow.errors import ConfigurationError


@pytest.fixture
def user_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A user configuration directory of the test's own."""
    directory = tmp_path / "user-config" / "agentflow"
    directory.mkdir(parents=True)
    monkeypatch.setattr(discovery, "user_config_dir", lambda: directory)
    return directory


@pytest.fixture
def project(tmp_path: Path) -> Path:
    directory = tmp_path / "project"
    directory.mkdir()
    return directory


def touch(path: Path) -> Path:
    path.write_text("models: {}\n")
    return path


def test_nothing_found_means_catalogs_only(project: Path, user_dir: Path):
    assert discover_config_path(environ={}, cwd=project) is None


def test_the_environment_variable_comes_first(project: Path, user_dir: Path, tmp_path: Path):
    named = touch(tmp_path / "elsewhere.yml")
    touch(project / "agentflow.yml")
    touch(user_dir / "agentflow.yml")
    assert discover_config_path(environ={"AGENTFLOW_CONFIG": str(named)}, cwd=project) == named


def test_a_relative_variable_is_taken_from_the_working_directory(project: Path, user_dir: Path):
    touch(project / "conf.yml")
    assert discover_config_path(environ={"AGENTFLOW_CONFIG": "conf.yml"}, cwd=project) == (
        project / "conf.yml")


def test_a_variable_naming_a_missing_file_is_an_error(project: Path, user_dir: Path):
    touch(project / "agentflow.yml")
    with pytest.raises(ConfigurationError) as caught:
        discover_config_path(environ={"AGENTFLOW_CONFIG": "missing.yml"}, cwd=project)
    message = str(caught.value)
    assert message.startswith("AGENTFLOW_CONFIG is set to missing.yml, but there is no file at ")
    assert "unset AGENTFLOW_CONFIG" in message


def test_a_variable_naming_a_directory_is_an_error(project: Path, user_dir: Path):
    with pytest.raises(ConfigurationError, match="AGENTFLOW_CONFIG"):
        discover_config_path(environ={"AGENTFLOW_CONFIG": str(project)}, cwd=project)


def test_an_empty_variable_is_ignored(project: Path, user_dir: Path):
    found = touch(project / "agentflow.yml")
    assert discover_config_path(environ={"AGENTFLOW_CONFIG": ""}, cwd=project) == found


def test_the_working_directory_comes_before_the_user_directory(project: Path, user_dir: Path):
    touch(user_dir / "agentflow.yml")
    found = touch(project / "agentflow.yml")
    assert discover_config_path(environ={}, cwd=project) == found


def test_yml_is_preferred_to_yaml_and_yaml_is_accepted(project: Path, user_dir: Path):
    yaml = touch(project / "agentflow.yaml")
    assert discover_config_path(environ={}, cwd=project) == yaml
    yml = touch(project / "agentflow.yml")
    assert discover_config_path(environ={}, cwd=project) == yml


def test_the_user_directory_is_last(project: Path, user_dir: Path):
    found = touch(user_dir / "agentflow.yml")
    assert discover_config_path(environ={}, cwd=project) == found
    found.unlink()
    assert discover_config_path(environ={}, cwd=project) is None
    yaml = touch(user_dir / "agentflow.yaml")
    assert discover_config_path(environ={}, cwd=project) == yaml


def test_a_directory_named_agentflow_yml_is_not_a_file(project: Path, user_dir: Path):
    (project / "agentflow.yml").mkdir()
    assert discover_config_path(environ={}, cwd=project) is None


def test_defaults_are_the_process_environment_and_working_directory(
        project: Path, user_dir: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("AGENTFLOW_CONFIG", raising=False)
    monkeypatch.chdir(project)
    found = touch(project / "agentflow.yml")
    discovered = discover_config_path()
    assert discovered is not None
    assert discovered.resolve() == found.resolve()
    monkeypatch.setenv("AGENTFLOW_CONFIG", "other.yml")
    with pytest.raises(ConfigurationError, match=r"other\.yml"):
        discover_config_path()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="XDG is a Linux convention")
def test_the_user_directory_follows_xdg_on_linux(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                 project: Path):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    assert discovery.user_config_dir() == tmp_path / "xdg" / "agentflow"
    (tmp_path / "xdg" / "agentflow").mkdir(parents=True)
    found = touch(tmp_path / "xdg" / "agentflow" / "agentflow.yml")
    assert discover_config_path(environ={}, cwd=project) == found

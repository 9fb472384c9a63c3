"""The ``agentflow`` command: run, models, validate, plugins, demo, doctor, config."""

from agentflow.cli.main import main

__all__ = ["main"]

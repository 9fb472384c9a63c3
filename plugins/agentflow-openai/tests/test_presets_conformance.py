"""agentflow's provider conformance suite, run on every OpenAI-compatible preset's emulation
(one test class per preset, made from :data:`agentflow_openai.presets.PRESETS`).

The presets share the Chat Completions codec and differ in what they declare (catalog,
capabilities, limits): the default ``nox`` run takes a sample that covers each kind (a local
server with an empty catalog, a cloud vendor refusing images, one accepting them); the others
are marked ``extended`` and run in ``nox -t extended`` (CI) and in ``nox -s tests_plugin``."""

from __future__ import annotations

import pytest

from agentflow.errors import HttpError
from agentflow.testing.app import RecordedRequest
from agentflow.testing.conformance import ProviderConformance, WireRequest
from agentflow_openai.presets import PRESETS
from agentflow_openai.testing.wire import read_wire

#: The presets the default run takes (see above).
SAMPLED = {"ollama", "deepseek", "groq"}

FINISH_REASONS = {"stop": "stop", "length": "length", "tool_calls": "tool_calls",
                  "content_filter": "content_filter"}


class _PresetConformance(ProviderConformance):
    finish_reasons = FINISH_REASONS
    stream_error = ("server_error", HttpError)

    def wire(self, request: RecordedRequest) -> WireRequest:
        return read_wire(request)


for _preset in PRESETS:
    _name = f"Test{_preset.name.capitalize()}Conformance"
    # A local server's catalog is empty (it serves what you load): run it with another
    # preset's catalog model, sent to it by id.
    _model = (f"{_preset.name}/{_preset.models[0]}" if _preset.models else "ollama/llama3.2")
    globals()[_name] = type(_name, (_PresetConformance,), {
        "provider": _preset.name, "model": _model, "__module__": __name__,
        "pytestmark": [] if _preset.name in SAMPLED else [pytest.mark.extended]})

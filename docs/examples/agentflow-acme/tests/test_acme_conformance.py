"""agentflow's conformance suite, run on the Acme plugin: every provider plugin should pass it."""

from agentflow.errors import HttpError
from agentflow.testing.conformance import ProviderConformance, WireRequest


class TestAcmeConformance(ProviderConformance):
    provider = "acme"
    model = "acme-large"
    finish_reasons = {"end": "stop", "max_length": "length", "blocked": "content_filter"}
    stream_error = ("overloaded", HttpError)

    def wire(self, request):
        body = request.json
        system = [m["text"] for m in body["input"] if m["role"] == "system"]
        return WireRequest(
            model=body["model"],
            system="\n".join(system) or None,
            messages=tuple((m["role"], m["text"]) for m in body["input"]
                           if m["role"] != "system"),
            temperature=body.get("temperature"),
            top_p=body.get("top_p"),
            max_tokens=body.get("max_tokens"),
            stop=tuple(body.get("stop", ())),
            stream=body.get("stream", False),
        )

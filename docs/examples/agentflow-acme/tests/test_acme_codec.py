"""The codec alone: an event or answer Acme should never send is reported as agentflow's error,
never as a bare KeyError or TypeError."""

import pytest

from agentflow.errors import HttpError, ProviderError, StreamingError
from agentflow.sse import ServerSentEvent
from agentflow.types import StreamState
from agentflow_acme import codec


@pytest.mark.parametrize(("event", "data"), [
    ("delta", "{}"),
    ("delta", '{"txt": "hi"}'),
    ("done", '{"stop_reason": "end"}'),
    ("done", '{"stop_reason": "end", "tokens": null}'),
    ("delta", "[1, 2]"),
    ("delta", "not json"),
])
def test_an_unreadable_stream_event_is_a_streaming_error(event, data):
    with pytest.raises(StreamingError, match="Acme sent a"):
        codec.parse_stream_event(ServerSentEvent(data=data, event=event),
                                 StreamState(provider="acme", model="acme-large"))


def test_an_error_event_is_an_http_error_with_its_status_and_words():
    error_event = ServerSentEvent(data='{"problem": "overloaded", "status": 503}',
                                  event="error")
    with pytest.raises(HttpError) as caught:
        codec.parse_stream_event(error_event, StreamState(provider="acme", model="acme-large"))
    assert caught.value.status_code == 503
    assert caught.value.vendor_message == "overloaded"
    assert "in the stream" in str(caught.value)


def test_an_unknown_event_is_skipped():
    assert codec.parse_stream_event(ServerSentEvent(data="{}", event="ping"),
                                    StreamState(provider="acme", model="acme-large")) == []


def test_an_answer_without_its_fields_is_a_provider_error():
    import httpx

    with pytest.raises(ProviderError, match="Acme sent an answer agentflow cannot read"):
        codec.parse_response(httpx.Response(200, json={"output": "hi"}), request=None)

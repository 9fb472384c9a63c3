"""agentflow.vendor, the toolkit vendor plugins are built on, and the emulation helpers of
agentflow.testing: the dispatch on the vendor argument, error bodies and their wording, token
counts, and answer cutting."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from agentflow._plugins.host import PluginHost
from agentflow.errors import HttpError, ProviderError, RateLimitError, StreamingError
from agentflow.testing import Cut, Reply, count_tokens, cut_answer, retry_after_header
from agentflow.types import ProviderSpec
from agentflow.vendor import (
    ErrorBody,
    ErrorWords,
    VendorPlugin,
    endpoint_url,
    excerpt,
    parse_json,
    read_error_body,
    token_count,
)


class _Codec:
    """Answers with what it was asked and by which codec, to see the dispatch."""

    def __init__(self, name: str) -> None:
        self.name = name

    def build_request(self, request: Any, settings: Any) -> Any:
        return (self.name, "build", request, settings)

    def parse_response(self, response: Any, request: Any) -> Any:
        return (self.name, "parse", response, request)

    def parse_stream_event(self, event: Any, state: Any) -> Any:
        return [(self.name, "event", event, state)]

    def map_error(self, response: Any) -> Any:
        return (self.name, "error", response)

    def check_request(self, settings: Any) -> Any:
        return (self.name, "check", settings)


def _spec(name: str) -> ProviderSpec:
    return ProviderSpec(name=name, default_base_url=f"https://{name}.invalid",
                        api_key_env=f"{name.upper()}_KEY")


def _host(plugin: VendorPlugin) -> PluginHost:
    host = PluginHost(entry_points=False)
    host.register(plugin)
    return host


def test_the_vendor_hooks_answer_the_declared_vendors_only():
    plugin = VendorPlugin(providers=[_spec("one"), _spec("two")],
                          codec={"one": _Codec("A"), "two": _Codec("B")})
    hook = _host(plugin).hook
    assert hook.agentflow_build_request(vendor="two", request=1, settings=2) == ("B", "build", 1, 2)
    assert hook.agentflow_parse_response(vendor="one", response=3, request=4) == (
        "A", "parse", 3, 4)
    assert hook.agentflow_parse_stream_event(vendor="one", event=5, state=6) == [
        ("A", "event", 5, 6)]
    assert hook.agentflow_map_error(vendor="two", response=7) == ("B", "error", 7)
    assert hook.agentflow_check_provider(vendor="one", settings=8) == ("A", "check", 8)
    for other in ("three", "One", ""):
        assert hook.agentflow_build_request(vendor=other, request=1, settings=2) is None
        assert hook.agentflow_map_error(vendor=other, response=7) is None
    assert [spec.name for spec in hook.agentflow_register_providers()[0]] == ["one", "two"]
    assert plugin.vendors == {"one", "two"}


def test_one_codec_serves_every_declared_vendor():
    plugin = VendorPlugin(providers=[_spec("one"), _spec("two")], codec=_Codec("A"))
    assert plugin.codec("two") is plugin.codec("one")
    assert plugin.codec("three") is None


def test_a_codec_for_an_undeclared_vendor_is_refused():
    with pytest.raises(ValueError, match="give one for each"):
        VendorPlugin(providers=[_spec("one")], codec={"two": _Codec("A")})


def test_catalog_and_emulations_load_when_first_asked_for():
    plugin = VendorPlugin(providers=[_spec("one")], codec=_Codec("A"),
                          models="json:__name__", emulations="string:ascii_lowercase")
    assert plugin.agentflow_default_models() == list("json")
    assert plugin.agentflow_fake_routes()[:3] == ["a", "b", "c"]
    bare = VendorPlugin(providers=[_spec("one")], codec=_Codec("A"))
    assert bare.agentflow_default_models() == []
    assert bare.agentflow_fake_routes() == []


def test_error_bodies_read_the_vendor_shape_or_quote_the_body():
    def fields(body: Any) -> ErrorBody | None:
        error = body.get("error") if isinstance(body, dict) else None
        return ErrorBody(message=error["message"], type=error.get("type")) if error else None

    assert read_error_body(json.dumps({"error": {"message": "no", "type": "t"}}).encode(),
                           fields) == ErrorBody(message="no", type="t")
    assert read_error_body(b"<html>Bad gateway</html>", fields).message == \
        "'<html>Bad gateway</html>'"
    assert read_error_body(b'{"other": 1}', fields).message == "'{\"other\": 1}'"
    assert read_error_body(b"   ", fields).message == "(empty body)"


def test_an_excerpt_is_capped_and_never_repeats_a_key():
    key = "sk-" + "abcdefghijklmnopqrstuvwxyz"
    quoted = excerpt(f"refused {key} " + "x" * 500)
    assert key not in quoted
    assert quoted.endswith("...'")
    assert len(quoted) < 220


WORDS = ErrorWords(label="Acme", key_env="ACME_KEY",
                   wording={403: ("refused access", "Upgrade the plan.")})


@pytest.mark.parametrize(("status", "expected"), [
    (400, "Acme rejected the request as invalid (HTTP 400; type=t): said. Fix what it names"),
    (401, "Check that ACME_KEY (or the api_key_env configured for this provider) holds"),
    (403, "Acme refused access (HTTP 403; type=t): said. Upgrade the plan."),
    (503, "The fault is on the provider's side; retry later."),
    (418, "Acme answered with an error (HTTP 418; type=t): said"),
])
def test_statuses_are_worded_with_the_vendor_words_and_advice(status, expected):
    error = WORDS.from_status(status, ErrorBody(message="said", type="t"), request_id="r-1")
    assert type(error) is HttpError
    assert expected in str(error)
    assert (error.status_code, error.error_type, error.vendor_message, error.request_id) == (
        status, "t", "said", "r-1")


def test_a_429_advises_the_wait_and_a_quota_is_not_retried():
    limited = WORDS.from_status(429, ErrorBody(message="slow"), retry_after=7)
    assert isinstance(limited, RateLimitError)
    assert limited.retry_after == 7
    assert limited.retryable is not False  # the retry policy decides
    assert "It advises waiting 7 s." in str(limited)
    assert "Slow down and retry later." in str(WORDS.from_status(429, ErrorBody(message="x")))
    quota = WORDS.from_status(429, ErrorBody(message="empty"),
                              quota=("the quota", "Check the plan."))
    assert isinstance(quota, RateLimitError)
    assert not quota.retryable
    assert "Acme says the quota is used up (HTTP 429): empty. Check the plan." in str(quota)


def test_an_error_inside_an_answer_takes_the_status_its_code_or_type_stands_for():
    statuses = {"overloaded": 503, "too_many": 429}
    by_type = WORDS.in_answer(ErrorBody(message="busy", type="overloaded"), statuses,
                              stream=True)
    assert isinstance(by_type, HttpError)
    assert by_type.status_code == 503
    assert "error in the stream, taken as 503" in str(by_type)
    by_code = WORDS.in_answer(ErrorBody(message="m", code=404), statuses, stream=False)
    assert "error in a 200 answer, taken as 404" in str(by_code)
    by_code_name = WORDS.in_answer(ErrorBody(message="m", code="too_many"), statuses,
                                   stream=True, retry_after=2.0)
    assert isinstance(by_code_name, RateLimitError)
    assert by_code_name.retry_after == 2.0
    unknown = WORDS.in_answer(ErrorBody(message="odd", type="weird"), statuses, stream=True)
    assert type(unknown) is StreamingError
    assert "(type=weird; no status given): odd" in str(unknown)
    assert type(WORDS.in_answer(ErrorBody(message="odd"), statuses, stream=False)) \
        is ProviderError


@given(st.integers(min_value=0, max_value=10**12))
def test_token_counts_are_integers_however_written(count):
    assert token_count(count) == count
    assert token_count(float(count)) == count


@pytest.mark.parametrize("bad", ["12", 1.5, True, [], {}])
def test_a_token_count_that_is_no_integer_is_a_type_error(bad):
    with pytest.raises(TypeError, match="is not an integer"):
        token_count(bad)
    assert token_count(None) is None


@given(st.lists(st.sampled_from(["a", "b", "stop", "c d"]), max_size=12),
       st.lists(st.sampled_from(["stop", "b", "", "zz"]), max_size=3),
       st.none() | st.integers(min_value=0, max_value=8))
def test_an_answer_is_cut_at_the_first_stop_sequence_then_at_the_limit(words, stops, limit):
    text = " ".join(words)
    cut = cut_answer(text, stops, limit)
    assert text.startswith(cut.text.split(" ")[0] if cut.text else "")
    assert all(stop not in cut.text for stop in stops if stop)
    if limit is not None:
        assert count_tokens(cut.text) <= limit
    unlimited = cut_answer(text, stops)
    assert cut.at_limit == (limit is not None and count_tokens(unlimited.text) > limit)
    if cut.stop_sequence is not None:
        assert text.find(cut.stop_sequence) >= 0


def test_a_single_stop_string_and_the_retry_after_header():
    assert cut_answer("one. two", ".").text == "one"
    assert cut_answer("one two three", limit=2) == Cut("one two", None, at_limit=True)
    assert retry_after_header(Reply(status=429, retry_after=1.5)) == {"retry-after": "1.5"}
    assert retry_after_header(Reply()) == {}


def test_an_answer_that_is_not_json_or_no_object_says_so_with_an_excerpt():
    assert parse_json(b'{"a": 1}', "Acme") == {"a": 1}
    assert parse_json("[1]", "Acme", object_only=False) == [1]
    with pytest.raises(ProviderError, match=r"Acme sent an answer that is not JSON .*'<html>'"):
        parse_json(b"<html>", "Acme")
    with pytest.raises(StreamingError, match="Acme sent a stream event that is not a JSON "
                       "object: '\\[1\\]'"):
        parse_json("[1]", "Acme", stream=True)


@pytest.mark.parametrize("url", [
    "https://api.openai.com/v1/chat/completions",
    "http://127.0.0.1:8000/v1/chat/completions?api-version=2024-10-21",
    "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-pro:streamGenerateContent?alt=sse",
    "https://bücher.example/v1/messages",
])
def test_an_endpoint_url_is_parsed_once_and_as_httpx_parses_it(url):
    parsed = endpoint_url(url)
    assert parsed == httpx.URL(url)
    assert endpoint_url(url) is parsed
    request = httpx.Request("POST", parsed, content=b"{}")
    assert request.url == httpx.URL(url)
    assert request.headers["host"] == httpx.URL(url).netloc.decode("ascii")


def test_an_invalid_endpoint_url_raises_as_httpx_does_every_time():
    for _ in range(2):
        with pytest.raises(httpx.InvalidURL):
            endpoint_url("http://[::1/v1")

"""Google's error answers mapped to agentflow's errors: every status, key errors, waits."""

from __future__ import annotations

import json

import httpx
import pytest

from agentflow._call.retry import RetryPolicy
from agentflow.errors import HttpError, RateLimitError
from agentflow_google import _errors
from agentflow_google.testing import STATUS_NAMES

ERROR_INFO = "type.googleapis.com/google.rpc.ErrorInfo"
RETRY_INFO = "type.googleapis.com/google.rpc.RetryInfo"
QUOTA_FAILURE = "type.googleapis.com/google.rpc.QuotaFailure"


def error_answer(code, status, message="went wrong", details=(), headers=None, wrap=False):
    body = {"error": {"code": code, "message": message, "status": status,
                      "details": list(details)}}
    return httpx.Response(code, content=json.dumps([body] if wrap else body).encode(),
                          headers=headers or {})


@pytest.mark.parametrize(("code", "status", "words"), [
    (400, "INVALID_ARGUMENT", "rejected the request as invalid"),
    (400, "FAILED_PRECONDITION", "enabling billing"),
    (403, "PERMISSION_DENIED", "refused access"),
    (404, "NOT_FOUND", "no such model"),
    (409, "ABORTED", "reported a conflict"),
    (499, "CANCELLED", "answered with an error"),
    (500, "INTERNAL", "provider's side"),
    (501, "UNIMPLEMENTED", "provider's side"),
    (503, "UNAVAILABLE", "provider's side"),
    (504, "DEADLINE_EXCEEDED", "did not finish in time"),
])
def test_every_status_keeps_googles_words(code, status, words):
    error = _errors.map_error(error_answer(code, status, "what Google said"))
    assert type(error) is HttpError
    assert (error.status_code, error.error_type) == (code, status)
    assert error.vendor_message == "what Google said"
    assert words in str(error)
    assert f"HTTP {code}" in str(error)
    assert "what Google said" in str(error)


def test_statuses_the_fake_uses_are_the_ones_the_codec_knows():
    for code, name in STATUS_NAMES.items():
        assert _errors.STATUS_CODES[name] == code


@pytest.mark.parametrize("retryable_status", [500, 503, 504])
def test_server_errors_are_left_to_the_core_to_retry(retryable_status):
    error = _errors.map_error(error_answer(retryable_status, "UNAVAILABLE"))
    assert error.retryable is None
    assert RetryPolicy.is_retryable(error)


def test_an_invalid_key_is_a_key_error_naming_both_variables():
    error = _errors.map_error(error_answer(
        400, "INVALID_ARGUMENT", "API key not valid. Please pass a valid API key.",
        [{"@type": ERROR_INFO, "reason": "API_KEY_INVALID", "domain": "googleapis.com"}]))
    assert type(error) is HttpError
    assert error.status_code == 400
    assert "rejected the API key" in str(error)
    assert "GOOGLE_API_KEY or GEMINI_API_KEY" in str(error)
    assert "reason=API_KEY_INVALID" in str(error)
    assert error.retryable is False


def test_an_expired_key_and_a_key_error_without_details():
    expired = _errors.map_error(error_answer(400, "INVALID_ARGUMENT", "API key expired.",
                                             [{"@type": ERROR_INFO,
                                               "reason": "API_KEY_EXPIRED"}]))
    assert "rejected the API key" in str(expired)
    bare = _errors.map_error(error_answer(400, "INVALID_ARGUMENT",
                                          "API key not valid. Please pass a valid API key."))
    assert "rejected the API key" in str(bare)


def test_no_key_at_all_says_so():
    error = _errors.map_error(error_answer(
        403, "PERMISSION_DENIED", "Method doesn't allow unregistered callers (callers without "
        "established identity). Please use API Key or other form of API consumer identity to "
        "call this API."))
    assert (error.status_code, error.retryable) == (403, False)
    assert "received no API key" in str(error)
    assert "GEMINI_API_KEY" in str(error)


def test_a_key_sent_as_a_bearer_token_is_a_key_error():
    error = _errors.map_error(error_answer(
        401, "UNAUTHENTICATED", "Request had invalid authentication credentials.",
        [{"@type": ERROR_INFO, "reason": "ACCESS_TOKEN_TYPE_UNSUPPORTED"}]))
    assert error.status_code == 401
    assert "rejected the API key" in str(error)
    plain = _errors.map_error(error_answer(401, "UNAUTHENTICATED", "no credentials"))
    assert "could not authenticate" in str(plain)


def test_retry_info_gives_the_wait_when_there_is_no_header():
    error = _errors.map_error(error_answer(429, "RESOURCE_EXHAUSTED", "quota", [
        {"@type": QUOTA_FAILURE, "violations": [
            {"quotaId": "GenerateRequestsPerMinutePerProjectPerModel-FreeTier"}]},
        {"@type": RETRY_INFO, "retryDelay": "13.5s"}]))
    assert type(error) is RateLimitError
    assert (error.status_code, error.error_type, error.retry_after) == (
        429, "RESOURCE_EXHAUSTED", 13.5)
    assert error.retryable is None
    assert "advises waiting 13.5 s" in str(error)


def test_a_retry_after_header_wins_over_retry_info():
    error = _errors.map_error(error_answer(429, "RESOURCE_EXHAUSTED", details=[
        {"@type": RETRY_INFO, "retryDelay": "40s"}], headers={"retry-after": "2"}))
    assert error.retry_after == 2


def test_a_429_without_advice():
    error = _errors.map_error(error_answer(429, "RESOURCE_EXHAUSTED"))
    assert (type(error), error.retry_after) == (RateLimitError, None)
    assert "Slow down" in str(error)


def test_a_daily_quota_is_not_retried():
    error = _errors.map_error(error_answer(429, "RESOURCE_EXHAUSTED", "quota", [
        {"@type": QUOTA_FAILURE, "violations": [
            {"quotaId": "GenerateRequestsPerDayPerProjectPerModel-FreeTier"}]},
        {"@type": RETRY_INFO, "retryDelay": "30s"}]))
    assert type(error) is RateLimitError
    assert error.retryable is False
    assert not RetryPolicy.is_retryable(error)
    assert "daily quota" in str(error)


@pytest.mark.parametrize(("delay", "seconds"), [
    ("13s", 13.0), ("0.5s", 0.5), ("1.500s", 1.5), ("-3s", 0.0), ("13", None), ("xs", None),
    ("infs", None), ("nans", None), (13, None)])
def test_retry_delay_durations(delay, seconds):
    error = _errors.map_error(error_answer(429, "RESOURCE_EXHAUSTED", details=[
        {"@type": RETRY_INFO, "retryDelay": delay}]))
    assert error.retry_after == seconds


def test_an_error_list_as_the_streaming_endpoint_sends_it():
    error = _errors.map_error(error_answer(503, "UNAVAILABLE", "The model is overloaded.",
                                           wrap=True))
    assert (error.status_code, error.error_type, error.vendor_message) == (
        503, "UNAVAILABLE", "The model is overloaded.")


@pytest.mark.parametrize("content", [b"upstream connect error", b"", b"[1, 2]", b'{"a": 1}',
                                     b'{"error": "text only"}'])
def test_a_body_that_is_not_googles_is_quoted(content):
    error = _errors.map_error(httpx.Response(502, content=content))
    assert type(error) is HttpError
    assert error.status_code == 502
    assert error.error_type is None
    assert error.vendor_message
    if content:
        assert content.decode()[:10] in str(error)


def test_messages_are_capped_and_never_repeat_a_key():
    key = "AIzaSyD-abcdefghijklmnopqrstuvwxyz01234"
    error = _errors.map_error(error_answer(400, "INVALID_ARGUMENT",
                                           f"bad key {key} " + "x" * 5000))
    assert key not in str(error)
    assert key not in (error.vendor_message or "")
    assert "AIza***" in str(error)
    assert len(error.vendor_message) <= 1000


def test_an_empty_message():
    error = _errors.map_error(error_answer(500, "INTERNAL", "   "))
    assert error.vendor_message == "(no message)"

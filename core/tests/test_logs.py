"""Log records, errors and their chains never carry a key: known keys whole, encoded, in runs of
8 characters or masked; key shapes; the httpx and httpcore loggers too.

Every key-shaped value is built at run time (no key-shaped literal sits in the source)."""

from __future__ import annotations

import base64
import logging
import random
import string
import traceback
from contextlib import contextmanager
from urllib.parse import quote

import pytest
from echo_vendor import EchoVendor
from hypothesis import given
from hypothesis import strategies as st

from agentflow import HttpError, LLMClientBuilder
from agentflow._observe import logs
from agentflow._observe.logs import (
    REDACTED,
    install,
    redact,
    redact_exception,
    redact_fields,
    remember_secret,
)
from agentflow._plugins.host import PluginHost
from agentflow._runtime.runtime import Runtime
from agentflow.config import Config, Defaults, ProviderConfig
from agentflow.testing import Reply

ALNUM = string.ascii_letters + string.digits


def random_text(length: int, seed: int, alphabet: str = ALNUM) -> str:
    chooser = random.Random(seed)
    return "".join(chooser.choice(alphabet) for _ in range(length))


def shaped(prefix: str, length: int, seed: int) -> str:
    """A vendor-shaped key: a well-known prefix and random characters."""
    return prefix + random_text(length, seed)


KEY_SHAPED = {
    "openai": lambda: shaped("sk-" + "proj-", 40, 1),
    "anthropic": lambda: shaped("sk-" + "ant-api03-", 60, 2),
    "google": lambda: shaped("AI" + "za", 35, 3),
    "stripe": lambda: shaped("sk" + "_live_", 24, 4),
    "huggingface": lambda: shaped("h" + "f_", 34, 5),
    "gitlab": lambda: shaped("gl" + "pat-", 20, 6),
    "xai": lambda: shaped("x" + "ai-", 48, 7),
    "groq": lambda: shaped("g" + "sk_", 48, 8),
    "google-oauth": lambda: shaped("ya" + "29.", 60, 9),
    "github": lambda: shaped("gh" + "p_", 36, 10),
    "jwt": lambda: ".".join(["ey" + "J" + random_text(20, 11), "ey" + "J" + random_text(30, 12),
                             random_text(43, 13)]),
}


@pytest.mark.parametrize("kind", sorted(KEY_SHAPED))
def test_key_shaped_strings_are_redacted(kind):
    key = KEY_SHAPED[kind]()
    assert redact(f"the key {key} was refused") == f"the key {REDACTED} was refused"
    assert redact(f"KEY_{key}") == f"KEY_{REDACTED}"  # glued to a word


@pytest.mark.parametrize("kind", ["openai", "anthropic", "xai", "groq"])
def test_a_key_sharing_a_remembered_keys_prefix_is_redacted_whole(kind):
    """Keys of one vendor share their first characters (``sk-ant-api03-``): a remembered key
    of that vendor must not take only the shared run out of another one's key, leaving the
    rest shown and no longer key-shaped (seen in CI when an earlier test of the same worker
    had remembered an Anthropic key)."""
    other = KEY_SHAPED[kind]()
    with remembered(other[:-30] + random_text(30, 99)):  # the same first characters
        assert redact(f"the key {other} was refused") == f"the key {REDACTED} was refused"


def test_a_private_key_block_is_redacted():
    body = "\n".join(random_text(64, seed, ALNUM + "+/") for seed in range(4))
    block = f"-----BEGIN RSA PRIVATE KEY-----\n{body}\n-----END RSA PRIVATE KEY-----"
    assert redact(f"found {block} in the file") == f"found {REDACTED} in the file"


TOKEN = random_text(24, 20)


@pytest.mark.parametrize(("text", "expected"), [
    (f"Authorization: Bearer {TOKEN}", "Authorization: Bearer ***"),
    (f"Authorization: BEARER  {TOKEN}", "Authorization: BEARER  ***"),
    (f"Authorization: Basic {base64.b64encode(TOKEN.encode()).decode()}",
     "Authorization: Basic ***"),
    (f"x-api-key: {TOKEN} sent", "x-api-key: *** sent"),
    (f"[(b'x-goog-api-key', b'{TOKEN}')]", "[(b'x-goog-api-key', b'***')]"),
    (f'{{"api_key": "{TOKEN}"}}', '{"api_key": "***"}'),
    (f"GET /v1/models?key={TOKEN}&x=1", "GET /v1/models?key=***&x=1"),
    ("nothing secret here, sk-short", "nothing secret here, sk-short"),
    ("task-manager-of-the-very-long-kind", "task-manager-of-the-very-long-kind"),
])
def test_credential_headers_and_parameters_are_redacted(text, expected):
    assert redact(text) == expected


@contextmanager
def remembered(*secrets):
    """Remember ``secrets`` for the block only: other tests must not see their words redacted."""
    saved = logs._known
    for secret in secrets:
        remember_secret(secret)
    try:
        yield
    finally:
        logs._known = saved


secret_text = st.text(st.characters(min_codepoint=33, max_codepoint=126), min_size=8,
                      max_size=40)


@given(secret=secret_text, before=st.text(max_size=30), after=st.text(max_size=30))
def test_a_remembered_key_never_survives_whatever_surrounds_it(secret, before, after):
    with remembered(secret):
        assert secret not in redact(before + secret + after + secret)


def runs(key, length=8):
    return {key[i:i + length] for i in range(len(key) - length + 1)}


NO_SHAPE = random_text(40, 30)  # a gateway's key: no vendor prefix at all


@given(start=st.integers(0, len(NO_SHAPE) - 8), length=st.integers(8, 40),
       before=st.sampled_from(["", "key ", "prefix:", "«"]),
       after=st.sampled_from(["", " was refused", "»"]))
def test_any_run_of_8_characters_of_a_key_in_use_is_redacted(start, length, before, after):
    quoted = NO_SHAPE[start:start + length]
    with remembered(NO_SHAPE):
        shown = redact(f"{before}{quoted}{after}")
    assert not any(run in shown for run in runs(NO_SHAPE))
    assert shown.startswith(before)
    assert shown.endswith(after)


def test_runs_that_read_as_words_are_left_to_whole_key_redaction():
    with remembered("anthropic-key"):
        assert redact("install agentflow-anthropic") == "install agentflow-anthropic"
        assert redact("the anthropic-key leaked") == "the *** leaked"


@pytest.mark.parametrize("key", [NO_SHAPE, KEY_SHAPED["openai"](), KEY_SHAPED["google"]()])
def test_masked_echoes_are_redacted_for_every_key(key):
    with remembered(key):
        for masked in (f"{key[:12]}{'*' * 30}{key[-4:]}", f"{key[:12]}...{key[-4:]}",
                       f"{key[:12]}…", f"{key[:3]}••••{key[-4:]}"):
            shown = redact(f"Incorrect API key provided: {masked}. Check it")
            assert shown == f"Incorrect API key provided: {REDACTED}. Check it", masked


def test_encoded_forms_of_a_key_in_use_are_redacted():
    key = random_text(30, 40, ALNUM + "+/=")
    credentials = base64.b64encode(f"user:{key}".encode()).decode()
    with remembered(key):
        assert quote(key, safe="") not in redact(f"url ?k={quote(key, safe='')}")
        shown = redact(f"header {credentials}")
        assert not any(run in shown for run in runs(credentials, 12))


def test_keys_remembered_one_after_another_are_all_redacted_in_every_form():
    """Each key remembered adds to what is known (forms, runs) without losing the earlier ones,
    and texts redacted between two keys do not keep the patterns from seeing the later ones."""
    keys = [random_text(24 + seed % 16, seed, ALNUM + "+/=") for seed in range(30)]
    assert len(set(keys)) == len(keys)
    with remembered():
        for number, key in enumerate(keys, 1):
            remember_secret(key)
            assert redact(f"now {key} then") == f"now {REDACTED} then"
            for earlier in keys[:number]:
                encoded = base64.b64encode(earlier.encode()).decode()
                shown = redact(f"a={quote(earlier, safe='')} b={earlier[3:13]} c={encoded}")
                assert not any(run in shown for run in runs(earlier, 8)), (number, shown)
                assert not any(run in shown for run in runs(encoded, 12)), (number, shown)


def test_short_values_are_not_remembered():
    with remembered("seconds"):
        assert redact("timeout_seconds") == "timeout_seconds"


def test_every_string_of_event_metadata_is_redacted():
    with remembered(NO_SHAPE):
        assert redact_fields({"request_id": NO_SHAPE[:20], "n": 3, "prompt": (
            {"content": f"x {NO_SHAPE}"},)}) == {"request_id": REDACTED, "n": 3, "prompt": (
                {"content": f"x {REDACTED}"},)}


class Stubborn(Exception):
    """An exception whose text comes from neither its arguments nor a string attribute."""

    def __init__(self, text):
        super().__init__()
        self.parts = (text,)

    def __str__(self):
        return f"stubborn: {self.parts[0]}"


def test_the_whole_exception_chain_is_cleaned():
    with remembered(NO_SHAPE):
        try:
            try:
                try:
                    raise OSError(5, f"refused {NO_SHAPE}")
                except OSError as first:
                    try:
                        raise Stubborn(NO_SHAPE) from first
                    except Stubborn:
                        raise ValueError(f"bad header {NO_SHAPE!r}")  # noqa: B904
            except ValueError:
                raise HttpError(f"denied {NO_SHAPE}", status_code=401)  # noqa: B904
        except HttpError as caught:
            error = caught
        redact_exception(error)
        text = "".join(traceback.format_exception(error))
    assert not any(run in text for run in runs(NO_SHAPE))
    for shown in ("RedactedException: test_logs.Stubborn: stubborn: ***", "bad header '***'",
                  "refused ***", "denied ***"):
        assert shown in text


@pytest.fixture
def own_key():
    with remembered("my-very-own-key-value"):
        yield


@pytest.mark.parametrize("name", ["agentflow.some.plugin", "httpx", "httpcore.http11", "hpack"])
def test_records_of_agentflow_and_http_loggers_are_redacted_when_made(caplog, own_key, name):
    install()
    caplog.set_level(logging.DEBUG)
    logging.getLogger(name).warning(
        "failed with %s and %r", "my-very-own-key-value", {"auth": f"Bearer {TOKEN}"})
    try:
        raise RuntimeError("key my-very-own-key-value rejected")
    except RuntimeError:
        logging.getLogger(name).exception("boom")
    logging.getLogger("elsewhere").warning("my-very-own-key-value")  # not ours: untouched
    ours = [r for r in caplog.records if r.name == name]
    text = "\n".join(caplog.handler.format(record) for record in ours)
    assert "my-very-own-key-value" not in text
    assert TOKEN not in text
    assert "rejected" in text  # the rest of the exception is kept
    assert [r.getMessage() for r in caplog.records if r.name == "elsewhere"] == [
        "my-very-own-key-value"]


def test_a_record_with_nothing_to_redact_keeps_its_arguments(caplog):
    install()
    caplog.set_level(logging.DEBUG)
    logging.getLogger("agentflow.x").info("answered %s in %d ms", "gpt", 12)
    (record,) = caplog.records
    assert (record.msg, record.args) == ("answered %s in %d ms", ("gpt", 12))


@pytest.mark.anyio
async def test_debug_logging_of_real_calls_shows_no_key(server, monkeypatch, caplog):
    key = "echo-secret-key-123456"
    monkeypatch.setenv("ECHO_API_KEY", key + "\n")  # KEY=$(cat keyfile)
    caplog.set_level(logging.DEBUG)
    host = PluginHost(entry_points=False)
    host.register(EchoVendor())
    runtime = Runtime(host=host, config=Config(
        providers={"echo": ProviderConfig(base_url=server.base_url("echo"))},
        defaults=Defaults(max_retries=1, retry_delay_ms=1)))
    server.script("echo", Reply(status=500, error_message=f"bad key {key[:20]}"),
                  Reply(status=500, error_message=f"bad key {key}"))
    try:
        with pytest.raises(HttpError) as caught:
            await LLMClientBuilder("echo-1", runtime=runtime).prompt("hi").execute()
        logging.getLogger("agentflow").error("call failed: %s", caught.value.message)
    finally:
        await runtime.aclose()
    assert key not in str(caught.value)
    assert key not in caught.value.vendor_message
    assert "bad key ***" in caught.value.message
    messages = [r.getMessage() for r in caplog.records]
    assert any("retry 1 of 1" in m for m in messages)
    assert any(m.startswith("call-") and "failed after" in m for m in messages)
    assert not any(run in caplog.text for run in runs(key))


def test_the_credential_shapes_have_a_bounded_width():
    """One match attempt reads a bounded number of characters: the scan is linear in the text
    (a server's 32 MiB error body included)."""
    import re

    parser = getattr(re, "_parser", None)
    if parser is None:  # Python 3.10
        import sre_parse as parser
    pattern = logs._key_shapes()
    assert parser.parse(pattern.pattern, pattern.flags).getwidth()[1] <= 40_000

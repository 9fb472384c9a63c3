"""The guard looks at every text a request sends, not only the messages' text; and at the text
normalised, so that full-width letters, zero-width characters and encodings hide nothing.

Key-shaped values are built at run time: no key-shaped literal sits in the source."""

from __future__ import annotations

import base64
import random
import string
from urllib.parse import quote

import pytest

from agentflow.types import (
    ImagePart,
    Message,
    ModelSettings,
    OutputSchema,
    Request,
    Secret,
    Tool,
    ToolCall,
)
from agentflow_guard import PromptGuard, PromptRejectedError

ALNUM = string.ascii_letters + string.digits


def random_text(length: int, seed: int, alphabet: str = ALNUM) -> str:
    chooser = random.Random(seed)
    return "".join(chooser.choice(alphabet) for _ in range(length))


IN_USE = random_text(20, 1) + "+/" + random_text(20, 2)  # the provider's key: no known shape
SETTINGS = ModelSettings(name="m", provider="gw", vendor="openai", model_id="m",
                         base_url="https://gw.example/v1", api_key=Secret(IN_USE))
SHAPED = "sk-" + "proj-" + random_text(40, 3)
LABEL = "[REDACTED:api_key]"


def prepared(request: Request, guard: PromptGuard | None = None) -> Request:
    changed = (guard or PromptGuard()).prepare(request, SETTINGS)
    assert changed is not None, "nothing was redacted"
    return changed


def user(text: str = "hi") -> Message:
    return Message.user(text)


def test_tool_call_arguments_of_history_messages():
    call = ToolCall.of("call_1", "lookup", {"query": f"use {SHAPED}", "n": 3})
    request = Request(model="m", messages=(user(), Message.assistant("", (call,))))
    sent = prepared(request).messages[1].tool_calls[0]
    assert sent.arguments == {"query": f"use {LABEL}", "n": 3}
    assert SHAPED not in sent.raw_arguments
    assert LABEL in sent.raw_arguments
    assert sent.id == "call_1"


def test_tool_and_parameter_descriptions_and_every_schema_string():
    tool = Tool(name="lookup", description=f"uses key {SHAPED}", parameters={
        "type": "object",
        "properties": {"q": {"type": "string", "description": f"default {IN_USE}",
                             "enum": ["a", SHAPED]}},
    })
    sent = prepared(Request(model="m", messages=(user(),), tools=(tool,))).tools[0]
    assert sent.description == f"uses key {LABEL}"
    assert sent.parameters["properties"]["q"]["description"] == f"default {LABEL}"
    assert sent.parameters["properties"]["q"]["enum"] == ["a", LABEL]


def test_the_output_schema_and_stop_sequences():
    schema = OutputSchema(name="answer", description=f"key {SHAPED}",
                          schema={"type": "object", "description": IN_USE})
    request = Request(model="m", messages=(user(),), output_schema=schema,
                      stop=("END", f"x{IN_USE}"))
    sent = prepared(request)
    assert sent.output_schema is not None
    assert sent.output_schema.description == f"key {LABEL}"
    assert sent.output_schema.schema == {"type": "object", "description": LABEL}
    assert sent.stop == ("END", f"x{LABEL}")


def test_an_image_url_with_a_key_in_it():
    image = ImagePart.from_url(f"https://img.example/a.png?sig={SHAPED}")
    sent = prepared(Request(model="m", messages=(Message.user("look", image),)))
    assert sent.messages[0].images[0].url == f"https://img.example/a.png?sig={LABEL}"


def test_deny_rules_look_at_every_text_too():
    tool = Tool(name="export", description="exports all customers")
    with pytest.raises(PromptRejectedError) as caught:
        PromptGuard(deny=["all customers"]).prepare(
            Request(model="m", messages=(user(),), tools=(tool,)), SETTINGS)
    assert "(tool export)" in caught.value.message
    assert caught.value.message_index is None


def test_an_unchanged_request_is_left_alone():
    tool = Tool(name="lookup", description="finds things")
    request = Request(model="m", messages=(user("hello"),), tools=(tool,), stop=("END",))
    assert PromptGuard().prepare(request, SETTINGS) is None


# what the guard sees: normalised text -----------------------------------------------------------

def full_width(text: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text)


def sent_text(text: str, guard: PromptGuard | None = None) -> str:
    changed = (guard or PromptGuard()).prepare(Request(model="m", messages=(user(text),)),
                                               SETTINGS)
    return text if changed is None else changed.messages[0].text


@pytest.mark.parametrize("hidden", [
    "\u200b".join(SHAPED),                      # zero-width spaces between every character
    SHAPED[:10] + "\u200d\ufeff" + SHAPED[10:],  # a joiner and a byte order mark
    full_width(SHAPED),                          # full-width letters
    "\u200b".join(IN_USE),                       # the key in use, split
])
def test_keys_hidden_by_unicode_are_found_and_the_hidden_text_goes_whole(hidden):
    assert sent_text(f"see {hidden} there") == f"see {LABEL} there"


def test_text_with_nothing_to_redact_is_sent_exactly_as_written():
    text = f"\ufb01ne {full_width('full')} width and e\u0301 and x\u200by"
    assert sent_text(text) == text


def test_a_zero_width_space_does_not_get_past_a_deny_rule():
    with pytest.raises(PromptRejectedError):
        sent_text("please dele\u200bte the database", PromptGuard(deny=["delete the database"]))


@pytest.mark.parametrize("encode", [
    lambda key: quote(key, safe=""),
    lambda key: base64.b64encode(key.encode()).decode(),
    lambda key: base64.b64encode(f"user:{key}".encode()).decode(),
    lambda key: base64.urlsafe_b64encode(f"ab{key}".encode()).decode(),
])
def test_the_key_in_use_url_encoded_or_in_base64(encode):
    encoded = encode(IN_USE)
    shown = sent_text(f"Authorization: Basic {encoded}")
    assert LABEL in shown
    # what may stay is what encodes other bytes, and the characters that mix both in
    assert not any(encoded[i:i + 12] in shown for i in range(len(encoded) - 11))


def test_the_key_of_a_provider_that_names_no_api_key_env(monkeypatch):
    other = random_text(32, 9)
    monkeypatch.setenv("SOMEVENDOR_API_KEY", f"{other}\n")
    assert sent_text(f"the other key is {other}") == f"the other key is {LABEL}"


def test_credential_variables_set_or_rotated_after_a_call_are_redacted_from_the_next(
        monkeypatch):
    """The variables named like a credential are remembered between calls (scanning the
    whole environment each call was most of a guarded request's cost); a variable added
    later, one that replaced another (the count of variables unchanged), and a new value of
    one already there, still count from the next call on."""
    first, added, rotated = random_text(32, 30), random_text(32, 31), random_text(32, 32)
    renamed = random_text(32, 33)
    monkeypatch.setenv("FIRSTVENDOR_API_KEY", first)
    assert sent_text(f"key {first}") == f"key {LABEL}"
    monkeypatch.setenv("LATERVENDOR_TOKEN", added)
    assert sent_text(f"key {added}") == f"key {LABEL}"
    monkeypatch.setenv("FIRSTVENDOR_API_KEY", rotated)
    assert sent_text(f"keys {rotated} {first}") == f"keys {LABEL} {first}"
    monkeypatch.delenv("LATERVENDOR_TOKEN")
    assert sent_text(f"key {added}") == f"key {added}"
    monkeypatch.delenv("FIRSTVENDOR_API_KEY")
    monkeypatch.setenv("RENAMEDVENDOR_SECRET", renamed)
    assert sent_text(f"keys {renamed} {rotated}") == f"keys {LABEL} {rotated}"


def test_a_setting_in_a_token_named_variable_is_not_taken_for_a_key(monkeypatch):
    monkeypatch.setenv("SOME_FEATURE_TOKEN", "disabled")
    monkeypatch.setenv("OTHER_SECRET", "localhost")
    assert sent_text("the feature is disabled on localhost") == (
        "the feature is disabled on localhost")


SHAPES = {
    "BEARER in capitals": (f"BEARER {random_text(30, 10)}", f"BEARER {LABEL}"),
    "two spaces after Bearer": (f"Bearer  {random_text(30, 11)}", f"Bearer  {LABEL}"),
    "glued to a word": (f"KEY_{SHAPED}", f"KEY_{LABEL}"),
    "Stripe": ("sk" + "_live_" + random_text(24, 12), LABEL),
    "Hugging Face": ("h" + "f_" + random_text(34, 13), LABEL),
    "GitLab": ("gl" + "pat-" + random_text(20, 14), LABEL),
    "xAI": ("x" + "ai-" + random_text(60, 15), LABEL),
    "Groq": ("g" + "sk_" + random_text(52, 16), LABEL),
    "Google OAuth": ("ya" + "29." + random_text(80, 17, ALNUM + "-_"), LABEL),
    "JWT": (".".join(("ey" + "J" + random_text(30, 18), "ey" + "J" + random_text(60, 19),
                      random_text(43, 20, ALNUM + "-_"))), LABEL),
    "AWS secret access key": ("aws_secret_access_key = " + random_text(40, 21, ALNUM + "/+"),
                              f"aws_secret_access_key = {LABEL}"),
    "AWS secret access key alone": ("wJalr" + random_text(30, 22) + "/K7MD", LABEL),
}


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_token_shapes(name):
    text, expected = SHAPES[name]
    assert sent_text(f"x {text} y") == f"x {expected} y"


def test_a_pem_private_key():
    body = "\n".join(random_text(64, seed, ALNUM + "+/") for seed in range(30, 34))
    pem = ("-----BEGIN " + "PRIVATE KEY-----\n" + body + "\n-----END " + "PRIVATE KEY-----")
    assert sent_text(f"key:\n{pem}\nthanks") == f"key:\n{LABEL}\nthanks"


@pytest.mark.parametrize("text", [
    "a git commit 4b825dc642cb6eb9a060e54bf8d69288fbee4904 in the log",
    "the task-management-of-the-project board", "bearer bonds", "uuid "
    "123e4567-e89b-12d3-a456-426614174000",
])
def test_ordinary_text_stays(text):
    assert sent_text(text) == text

"""The quick reader of plain YAML gives exactly what ruamel.yaml gives, or steps aside."""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agentflow.config._plain_yaml import read_plain_yaml
from agentflow.config._source import (
    MAX_DEPTH,
    MAX_LINE,
    MAX_VALUES,
    YamlSyntaxError,
    _parse_with_ruamel,
    parse_yaml,
)


def quick(text: str) -> Any:
    return read_plain_yaml(text, max_depth=MAX_DEPTH, max_values=MAX_VALUES, max_line=MAX_LINE)


def assert_same_as_ruamel(text: str) -> bool:
    """Whether the quick reader read ``text``; if it did, it agrees with ruamel.yaml on the
    data (types included) and on every position."""
    found = quick(text)
    if found is None:
        return False
    data, keys, values = found
    try:
        expected, source, problems = _parse_with_ruamel(text)
    except YamlSyntaxError as exc:  # pragma: no cover - shown when it fails
        raise AssertionError(f"read {text!r}, which ruamel.yaml refuses: {exc}") from None
    assert problems == []
    assert data == expected
    assert _types(data) == _types(expected)
    assert keys == source.keys
    assert values == source.values
    return True


def _types(value: Any) -> list[type]:
    found = [type(value)]
    if isinstance(value, dict):
        for key, item in value.items():
            found += [type(key), *_types(item)]
    elif isinstance(value, list):
        for item in value:
            found += _types(item)
    return found


def test_a_typical_file_is_read_without_ruamel_with_ruamels_positions():
    text = (
        "# agentflow.yml\n"
        "models:\n"
        "  gpt-4o:\n"
        "    vendor: openai\n"
        "    temperature: 0.7   # a comment\n"
        "    max_tokens: 100\n"
        "    fallbacks:\n"
        "      - gpt-4o-mini\n"
        "      - claude-3.5-sonnet\n"
        "    supports_streaming: true\n"
        "    model_id: 'gpt-4o-2024-08-06'\n"
        "providers:\n"
        "  openai:\n"
        "    base_url: http://127.0.0.1:8000/v1\n"
        "    api_key_env: OPENAI_API_KEY\n"
        "    options:\n"
        "    ca_bundle: \"certs/ca.pem\"\n"
        "\n"
        "defaults:\n"
        "  timeout_seconds: 120\n"
        "  transport: httpx\n"
        "  read_timeout_seconds: null\n"
        "plugins:\n"
        "  guard:\n"
        "    deny:\n"
        "    - ${BLOCKED_WORD}\n"
    )
    assert assert_same_as_ruamel(text)
    data, _, _ = parse_yaml(text)
    assert data["models"]["gpt-4o"]["fallbacks"] == ["gpt-4o-mini", "claude-3.5-sonnet"]


@pytest.mark.parametrize("text", [
    "a: [1, 2]\n", "a: {b: 1}\n", "a: &x 1\nb: *x\n", "a: !!str 1\n", "a: |\n  text\n",
    "a: hello\n  world\n", "a:\tb\n", "a: 1\r\n", "---\na: 1\n", "a: yes\n", "a: True\n",
    "a: 0x1F\n", "a: 1e3\n", "a: 2024-01-01\n", "a: .inf\n", "a: 007\n", "a: 1\na: 2\n",
    "a: b: c\n", "a: b:\n", "? a\n: b\n", "- a\n- b\n", "just text\n", "", "# only\n",
    "a:\n  - b: 1\n", "a:\n  -\n", "'a': 1\n", "a: \"x\\ty\"\n", "a: 'it''s'\n", "y: 1\n",
    "a: x #c\n  b: 1\n", "a:\n  b: 1\n c: 2\n", "a: \"x\"y\n", "a: é\n", "\ufeffa: 1\n",
])
def test_anything_outside_the_plain_subset_is_left_to_ruamel(text):
    assert quick(text) is None


def test_errors_keep_ruamels_located_message():
    with pytest.raises(YamlSyntaxError) as caught:
        parse_yaml("models:\n  a: 1\n  a: 2\n")
    assert (caught.value.line, caught.value.column) == (3, 3)
    assert "duplicate key 'a'" in caught.value.message


def test_the_limits_apply_as_ruamels_reading_applies_them():
    deep = "".join(f"{'  ' * depth}k{depth}:\n" for depth in range(MAX_DEPTH + 1)) + \
        f"{'  ' * (MAX_DEPTH + 1)}v: 1\n"
    assert quick(deep) is None
    wide = "".join(f"k{index}: {index}\n" for index in range(MAX_VALUES - 1))
    assert assert_same_as_ruamel(wide)
    assert quick(wide + "one_more: 1\n") is None
    assert quick("a: " + "x" * MAX_LINE + "\n") is None


@pytest.mark.parametrize("text", [
    # a key with no value, spaces after its colon or none, as the text's last line with no
    # newline (ruamel.yaml places the null at the text's end) or with one (at the key)
    "a: ", "a:  ", "a:", "a: \n", "a:  \n", "a: 1\nb:  ", "a: \nb: 1", "a:\n  - x\nb: ",
    "x:\n  a: ", "x:\n  a:", "x:\n  a:  \n  b: 2\n", "a:\n  b:\n    c:   ",
    "a:\n  b:\n    c:   \n", "x:\n  a: \n\n", "a: \n   ", "a:   \n  \nb: 1",
    # followed by its children, blank lines or comments
    "a: \n  - b\n", "a: \n- b\n", "a: \n  b: 1\n", "a: \n# c\n", "a:\n# c",
    "a: \n  # c\nb: 1\n", "x:\n  a: \n  # c\n",
    # and values with spaces after them
    "a: 1 ", "a: 1  \n", "a:\n  - b ", "a:\n  - b  \n",
])
def test_keys_without_a_value_are_read_as_ruamel_reads_them(text: str) -> None:
    assert assert_same_as_ruamel(text)


@pytest.mark.parametrize("text", [
    # where ruamel.yaml places a null followed by a comment depends on what comes next
    "a: # c\n", "a:  #x\nb: 1\n", "x:\n  a:    #x\n  b: 1\n", "x:\n  a:    #x\nc: 1\n",
    "x:\n  a: # c",
])
def test_keys_without_a_value_but_with_a_comment_are_left_to_ruamel(text: str) -> None:
    assert quick(text) is None
    _parse_with_ruamel(text)


# Generated documents: plain scalars, near misses of every kind, spacing and comments.

SAFE_SCALARS = st.sampled_from([
    "true", "false", "null", "~", "0", "7", "-12", "1.5", "-0.25", "http://127.0.0.1:8000/v1",
    "${OPENAI_KEY}", "a b", "gpt-4o", "claude-3.5-sonnet", "/etc/ca.pem", "'q'", '"q"', "a:b"])
TRICKY_SCALARS = st.sampled_from([
    "true", "false", "True", "FALSE", "yes", "No", "on", "y", "null", "Null", "~", "0", "-0",
    "7", "-12", "007", "1.5", "-0.25", "1.", ".5", "1e3", "0x1F", "0o17", "1_000", ".inf",
    ".NaN", "2024-01-01", "12:30", "http://127.0.0.1:8000/v1", "${OPENAI_KEY}", "a b",
    "a  b", "a: b", "a #b", "a#b", "-a", "?x", "@x", "%x", "x:", "a:b", "a{b}", "a,b", "!x",
    "&x", "*x", "|", ">", "'q'", '"q"', "'it''s'", '"a\\"b"', "'a # b'", '"#"', "gpt-4o",
    "claude-3.5-sonnet", "/etc/ca.pem", "a=b&c=d", "(x)", "~x", "x~", "a/b", "é", "x ",
])
SCALARS = st.one_of(SAFE_SCALARS, SAFE_SCALARS, SAFE_SCALARS, SAFE_SCALARS, TRICKY_SCALARS,
                    st.text(alphabet="aZ09_:/ #-.{}$'\"~,!?&*", min_size=1, max_size=6))
SAFE_KEYS = st.sampled_from(["a", "b", "model", "gpt-4o", "claude-3.5", "k_1", "x.y", "a/b",
                             "_", "Z9"])
KEYS = st.one_of(SAFE_KEYS, SAFE_KEYS, SAFE_KEYS, st.sampled_from(
    ["y", "true", "null", "On", "1", "-a", "a b", "'a'", "a:", "a#", "é"]))


@st.composite
def trees(draw: st.DrawFn, depth: int = 0, *, tricky: bool) -> dict[str, Any]:
    keys = draw(st.lists(KEYS if tricky else SAFE_KEYS, min_size=1, max_size=4))
    scalars = SCALARS if tricky else SAFE_SCALARS
    tree: dict[str, Any] = {}
    for key in keys:
        kind = draw(st.sampled_from(["scalar", "empty", "list", "map"] if depth < 3
                                    else ["scalar", "empty"]))
        tree[key] = (draw(scalars) if kind == "scalar" else None if kind == "empty"
                     else draw(st.lists(scalars, min_size=1, max_size=3)) if kind == "list"
                     else draw(trees(depth + 1, tricky=tricky)))
    return tree


@st.composite
def documents(draw: st.DrawFn, *, tricky: bool = True) -> str:
    tree = draw(trees(tricky=tricky))
    indent = draw(st.sampled_from([1, 2, 4]))
    lines: list[str] = []

    def gap() -> str:
        return " " * draw(st.integers(0, 2))

    def comment() -> str:
        return draw(st.sampled_from(["", "", " # note", "  #x", *["#tight"] * tricky]))

    def render(node: dict[str, Any], level: int) -> None:
        pad = " " * (indent * level)
        for key, value in node.items():
            if draw(st.booleans()) and draw(st.booleans()):
                lines.append(draw(st.sampled_from(["", "# comment", "   ", f"{pad}# here"])))
            if isinstance(value, dict):
                lines.append(f"{pad}{key}:{comment()}")
                render(value, level + 1)
            elif isinstance(value, list):
                lines.append(f"{pad}{key}:{comment()}")
                inner = pad if draw(st.booleans()) else " " * (indent * (level + 1))
                for item in value:
                    lines.append(f"{inner}-{' ' + gap()}{item}{comment()}")
            elif value is None:
                lines.append(f"{pad}{key}:{gap()}{comment()}")
            else:
                lines.append(f"{pad}{key}: {gap()}{value}{comment()}")

    render(tree, 0)
    return "\n".join(lines) + draw(st.sampled_from(["", "\n", "\n\n"]))


@given(documents())
def test_whatever_the_quick_reader_reads_ruamel_reads_the_same(text):
    assert_same_as_ruamel(text)


@given(documents(tricky=False))
def test_plain_documents_are_read_quickly_and_as_ruamel_reads_them(text):
    # a key whose value is only a comment is left to ruamel.yaml (see above)
    assert assert_same_as_ruamel(text) or re.search(r": +#", text)

"""plugins.redis: what is accepted, and each refusal located at its line and column."""

from __future__ import annotations

import pytest

from agentflow import ConfigurationError
from agentflow.config import Config, load_config
from agentflow_redis import URL_ENV, RedisSettings
from agentflow_redis._resp import RedisAddress


def test_no_url_means_no_sharing() -> None:
    assert RedisSettings.parse({}, env={}) is None


def test_the_url_may_come_from_the_environment() -> None:
    settings = RedisSettings.parse({}, env={URL_ENV: "redis://cache:6380/2"})
    assert settings is not None
    assert settings.address.display == "redis://cache:6380/2"
    assert settings.on_store_failure == "local"
    assert settings.timeout_seconds == 0.25
    assert settings.key_prefix == "agentflow"


def test_every_key() -> None:
    settings = RedisSettings.parse({"url": "rediss://user:pw@10.0.0.1", "key_prefix": "app:{a}",
                                    "on_store_failure": "fail", "timeout_seconds": 1,
                                    "reconnect_seconds": 0.5}, env={})
    assert settings is not None
    assert settings.address == RedisAddress(scheme="rediss", host="10.0.0.1", username="user",
                                            password="pw")
    assert (settings.key_prefix, settings.on_store_failure) == ("app:{a}", "fail")
    assert (settings.timeout_seconds, settings.reconnect_seconds) == (1.0, 0.5)


def test_a_password_never_shows() -> None:
    address = RedisAddress.parse("redis://:s3cret-pass@127.0.0.1:6379/1")
    assert address.password == "s3cret-pass"
    assert "s3cret" not in repr(address)
    assert "s3cret" not in address.display
    assert RedisAddress.parse("unix:///run/redis.sock?db=3").display == "unix:///run/redis.sock"


@pytest.mark.parametrize(("text", "line"), [
    ("    url: http://x\n", "agentflow.yml:3:10: plugins.redis.url: must start with redis://, "
                            "rediss:// or unix://"),
    ("    url: redis://h\n    colour: blue\n",
     "agentflow.yml:4:5: plugins.redis.colour: unknown key; keys here are: url, key_prefix, "
     "on_store_failure, timeout_seconds, reconnect_seconds"),
    ("    url: redis://h\n    on_store_failure: retry\n",
     "agentflow.yml:4:23: plugins.redis.on_store_failure: must be local or fail, got 'retry'"),
    ("    url: redis://h\n    timeout_seconds: 0\n",
     "agentflow.yml:4:22: plugins.redis.timeout_seconds: must be a number of seconds greater "
     "than 0, got 0"),
    ("    url: redis://h\n    key_prefix: 'a b'\n",
     "agentflow.yml:4:17: plugins.redis.key_prefix: must be 1 to 100 letters, digits or "
     "_ . : - { }, got 'a b'"),
    ("    url: redis://:pw@h:99999\n",
     "agentflow.yml:3:10: plugins.redis.url: the port must be a number from 1 to 65535"),
])
def test_refusals_are_located(tmp_path, monkeypatch, text: str, line: str) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "agentflow.yml").write_text("plugins:\n  redis:\n" + text)
    config = load_config("agentflow.yml")
    with pytest.raises(ConfigurationError) as caught:
        RedisSettings.of(config)
    assert [str(issue) for issue in caught.value.issues] == [line]


def test_a_configuration_in_code_gets_unlocated_errors() -> None:
    with pytest.raises(ConfigurationError, match=r"^plugins\.redis\.url: must start"):
        RedisSettings.of(Config(plugins={"redis": {"url": "http://x"}}))

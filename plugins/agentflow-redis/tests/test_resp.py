"""The RESP client against a real server: replies of every type, errors, reuse, interruption."""

from __future__ import annotations

import anyio
import pytest

from agentflow_redis._resp import RedisAddress, RedisClient, RedisReplyError, encode

pytestmark = pytest.mark.anyio


def test_encoding() -> None:
    assert encode(["SET", b"k\r\n", 3, 0.5]) == (
        b"*4\r\n$3\r\nSET\r\n$3\r\nk\r\n\r\n$1\r\n3\r\n$3\r\n0.5\r\n")


async def test_replies(redis_url: str) -> None:
    client = RedisClient(RedisAddress.parse(redis_url))
    try:
        assert await client.call("PING") == "PONG"
        assert await client.call("SET", "k", b"\x00\xffbinary\r\n") == "OK"
        assert await client.call("GET", "k") == b"\x00\xffbinary\r\n"
        assert await client.call("GET", "missing") is None
        assert await client.call("INCRBY", "n", 41) == 41
        assert await client.call("EVAL", "return {1, 'a', {2}}", 0) == [1, b"a", [2]]
        with pytest.raises(RedisReplyError) as caught:
            await client.call("EVALSHA", "0" * 40, 0)
        assert caught.value.kind == "NOSCRIPT"
        assert await client.call("PING") == "PONG"  # the connection survived the error
    finally:
        await client.aclose()


async def test_a_cancelled_exchange_is_not_reused(redis_url: str) -> None:
    client = RedisClient(RedisAddress.parse(redis_url))
    try:
        with anyio.CancelScope() as scope:
            scope.cancel()
            await client.call("PING")
        # whatever the cancelled exchange left unread, the next reply is the next command's
        assert await client.call("ECHO", "after") == b"after"
    finally:
        await client.aclose()


async def test_a_database_and_a_password(redis_url: str, redis_server) -> None:
    redis_server.command("CONFIG", "SET", "requirepass", "pass-word")
    try:
        client = RedisClient(RedisAddress.parse(redis_url.replace("//", "//:pass-word@")
                                                .replace("/0", "/3")))
        assert await client.call("SET", "in-three", "1") == "OK"
        assert await client.call("DBSIZE") == 1
        await client.aclose()
        refused = RedisClient(RedisAddress.parse(redis_url))
        with pytest.raises(RedisReplyError, match="NOAUTH"):
            await refused.call("GET", "x")
        await refused.aclose()
    finally:
        _reset_password(redis_server)


def _reset_password(redis_server) -> None:
    import socket

    with socket.create_connection(("127.0.0.1", redis_server.port)) as sock:
        sock.sendall(b"AUTH pass-word\r\nCONFIG SET requirepass \"\"\r\n")
        replies = b""
        while replies.count(b"\r\n") < 2:
            replies += sock.recv(100)
        assert replies == b"+OK\r\n+OK\r\n"

"""A minimal Redis client on anyio streams: RESP2 over TCP, TLS or a Unix socket.

Why not a general client: the store needs four commands (``EVALSHA``, ``EVAL``, ``AUTH``,
``SELECT``) and must run under asyncio and trio, inside calls that have no long-lived task to
host a connection pool. coredis 6 runs on anyio (so on trio), but its pool must be entered by
a parent task that outlives every user (its connections' reader tasks live in that task
group), and an EVALSHA through it took 230-470 µs on loopback against 45-85 µs here
(``bench/redis_client_choice.py``). redis-py runs on asyncio only. So this module speaks the
protocol itself: one request and one reply at a time per connection, idle connections kept
per event loop, and a connection whose exchange was interrupted (a timeout, a cancellation, a
broken socket) closed rather than reused.

Nothing here logs: the password in a URL stays in :class:`RedisAddress`, whose ``repr`` and
``display`` leave it out.
"""

from __future__ import annotations

import ssl
from collections.abc import Sequence
from typing import TYPE_CHECKING, Union
from urllib.parse import unquote, urlsplit

import anyio
import attrs
from anyio.streams.buffered import BufferedByteReceiveStream

if TYPE_CHECKING:
    from anyio.abc import ByteStream

__all__ = ["RedisAddress", "RedisClient", "RedisReplyError", "Reply"]

Reply = Union[bytes, str, int, None, "list[Reply]"]
Arg = str | bytes | int | float

#: Idle connections kept per event loop; more are closed when returned.
MAX_IDLE = 32
_MAX_LINE = 64 * 1024
_MAX_BULK = 64 * 1024 * 1024


class RedisReplyError(Exception):
    """Redis answered with an error reply (``-ERR ...``, ``-NOSCRIPT ...``)."""

    @property
    def kind(self) -> str:
        """The error's first word: ``ERR``, ``NOSCRIPT``, ``WRONGPASS``..."""
        return str(self).split(" ", 1)[0]


class ProtocolError(OSError):
    """Redis sent something this client cannot read (or closed the connection)."""


@attrs.frozen(kw_only=True)
class RedisAddress:
    """Where a Redis server is, parsed from ``redis://[user[:password]@]host[:port][/db]``,
    ``rediss://`` (TLS) or ``unix:///path/to/socket[?db=N]``."""

    scheme: str
    host: str = "127.0.0.1"
    port: int = 6379
    path: str | None = None
    db: int = 0
    username: str | None = attrs.field(default=None, repr=False)
    password: str | None = attrs.field(default=None, repr=False)

    @classmethod
    def parse(cls, url: str) -> RedisAddress:
        """:raises ValueError: saying what is wrong with ``url`` (without its password)."""
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in ("redis", "rediss", "unix"):
            raise ValueError("must start with redis://, rediss:// or unix://")
        query = dict(pair.split("=", 1) for pair in parts.query.split("&") if "=" in pair)
        db_text = query.get("db") or (parts.path.strip("/") if scheme != "unix" else "") or "0"
        if not db_text.isdigit():
            raise ValueError(f"the database must be a number, got {db_text!r}")
        username = unquote(parts.username) if parts.username else None
        password = unquote(parts.password) if parts.password is not None else None
        if scheme == "unix":
            if not parts.path:
                raise ValueError("a unix:// URL needs the socket's path")
            return cls(scheme=scheme, path=parts.path, db=int(db_text), username=username,
                       password=password)
        try:
            port = parts.port or 6379
        except ValueError:
            raise ValueError("the port must be a number from 1 to 65535") from None
        return cls(scheme=scheme, host=parts.hostname or "127.0.0.1", port=port,
                   db=int(db_text), username=username, password=password)

    @property
    def display(self) -> str:
        """The address for messages, without credentials: ``redis://127.0.0.1:6379/0``."""
        if self.scheme == "unix":
            return f"unix://{self.path}"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}/{self.db}"


def encode(args: Sequence[Arg]) -> bytes:
    """``args`` as one RESP command (an array of bulk strings)."""
    out = [b"*%d\r\n" % len(args)]
    for arg in args:
        if isinstance(arg, bytes):
            data = arg
        elif isinstance(arg, float):
            data = repr(arg).encode()
        else:
            data = str(arg).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(out)


async def read_reply(stream: BufferedByteReceiveStream) -> Reply:
    """One RESP2 reply; an error reply is returned as a :class:`RedisReplyError` instance."""
    try:
        line = await stream.receive_until(b"\r\n", _MAX_LINE)
    except (anyio.IncompleteRead, anyio.EndOfStream, anyio.BrokenResourceError):
        raise ProtocolError("Redis closed the connection") from None
    kind, rest = line[:1], line[1:]
    if kind == b"+":
        return rest.decode()
    if kind == b":":
        return int(rest)
    if kind == b"$":
        size = int(rest)
        if size < 0:
            return None
        if size > _MAX_BULK:
            raise ProtocolError(f"a reply of {size} bytes is more than this client reads")
        try:
            data = await stream.receive_exactly(size + 2)
        except (anyio.IncompleteRead, anyio.EndOfStream, anyio.BrokenResourceError):
            raise ProtocolError("Redis closed the connection") from None
        return data[:-2]
    if kind == b"*":
        count = int(rest)
        if count < 0:
            return None
        return [await read_reply(stream) for _ in range(count)]
    if kind == b"-":
        raise RedisReplyError(rest.decode(errors="replace"))
    raise ProtocolError(f"unexpected reply type {kind!r} from Redis")


class _Connection:
    __slots__ = ("reader", "stream")

    def __init__(self, stream: ByteStream) -> None:
        self.stream = stream
        self.reader = BufferedByteReceiveStream(stream)

    async def call(self, args: Sequence[Arg]) -> Reply:
        try:
            await self.stream.send(encode(args))
        except (anyio.BrokenResourceError, anyio.ClosedResourceError) as exc:
            raise ProtocolError(f"the connection to Redis broke ({type(exc).__name__})") from exc
        return await read_reply(self.reader)


def _loop_token() -> object:
    import asyncio

    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        pass
    import trio  # not asyncio, so trio (imported: it runs this)

    return trio.lowlevel.current_trio_token()


class RedisClient:
    """Commands to one Redis server from any event loop of the process.

    Each call takes an idle connection of the running loop (or opens one), sends the command,
    reads the reply and puts the connection back. Callers bound the time a call may take
    (``anyio.fail_after``); an interrupted exchange closes its connection.
    """

    def __init__(self, address: RedisAddress, *, connect_timeout: float = 1.0) -> None:
        self.address = address
        self._connect_timeout = connect_timeout
        self._idle: dict[object, list[_Connection]] = {}
        self._ssl: ssl.SSLContext | None = None

    def __repr__(self) -> str:
        return f"<RedisClient {self.address.display}>"

    async def call(self, *args: Arg) -> Reply:
        """Send one command and return its reply.

        :raises RedisReplyError: for an error reply (the connection stays usable).
        :raises OSError: when the server cannot be reached or the connection broke.
        """
        token = _loop_token()
        idle = self._idle.setdefault(token, [])
        reused = bool(idle)
        connection = idle.pop() if reused else await self._connect()
        try:
            reply = await connection.call(args)
        except RedisReplyError:
            await self._put_back(token, connection)
            raise
        except OSError:
            await anyio.aclose_forcefully(connection.stream)
            if not reused:
                raise
            # An idle connection that broke while unused (a restarted server): the others kept
            # with it are broken too. Drop them all and try once on a new connection.
            await self._drop_idle(token)
            return await self.call(*args)
        except BaseException:
            await anyio.aclose_forcefully(connection.stream)
            raise
        await self._put_back(token, connection)
        return reply

    async def aclose(self) -> None:
        """Close the idle connections of the running event loop."""
        await self._drop_idle(_loop_token())

    async def _drop_idle(self, token: object) -> None:
        for connection in self._idle.pop(token, []):
            await anyio.aclose_forcefully(connection.stream)

    def forget(self) -> None:
        """Drop every idle connection without closing it (their loops may be gone)."""
        self._idle.clear()

    async def _put_back(self, token: object, connection: _Connection) -> None:
        idle = self._idle.setdefault(token, [])
        if len(idle) < MAX_IDLE:
            idle.append(connection)
        else:
            await anyio.aclose_forcefully(connection.stream)

    async def _connect(self) -> _Connection:
        address = self.address
        with anyio.fail_after(self._connect_timeout):
            stream: ByteStream
            if address.scheme == "unix":
                assert address.path is not None
                stream = await anyio.connect_unix(address.path)
            elif address.scheme == "rediss":
                if self._ssl is None:
                    self._ssl = ssl.create_default_context()
                stream = await anyio.connect_tcp(address.host, address.port, tls=True,
                                                 ssl_context=self._ssl,
                                                 tls_standard_compatible=False)
            else:
                stream = await anyio.connect_tcp(address.host, address.port)
            connection = _Connection(stream)
            try:
                if address.password is not None:
                    auth: list[Arg] = ["AUTH", address.password]
                    if address.username:
                        auth.insert(1, address.username)
                    await connection.call(auth)
                if address.db:
                    await connection.call(["SELECT", address.db])
            except BaseException:
                await anyio.aclose_forcefully(stream)
                raise
        return connection

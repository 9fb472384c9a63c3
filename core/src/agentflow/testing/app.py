"""The fake provider server's ASGI application: routing, scripting, recording, faults.

:class:`FakeApp` is a plain ASGI 3 callable. It mounts each :class:`FakeProvider` at
``/<provider><base_path>``, hands every matching request to the route's handler together with
the next scripted :class:`Reply` of that provider, and renders what the handler returns. The
faults a reply asks for (a delay, a pause between stream events, a cut connection, a malformed
body) are applied here, so handlers only say what their vendor would send.

The app is backend-neutral (it sleeps and cancels through anyio); :mod:`agentflow.testing.server`
serves it with uvicorn. Tests talk to it from another thread, so the scripts and the recorded
requests sit behind a lock; nothing else is shared.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import threading
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Mapping, MutableMapping
from typing import Any
from urllib.parse import parse_qsl

import anyio
import attrs

from agentflow.testing.fake import (
    FakeCall,
    FakeJSON,
    FakeProvider,
    FakeRaw,
    FakeResponse,
    FakeRoute,
    FakeStream,
    Handler,
    Reply,
)

__all__ = ["ConnectionCut", "FakeApp", "RecordedRequest", "compile_path", "sse_frame"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

logger = logging.getLogger("agentflow.testing")

_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
_BODY = "http.response.body"


class ConnectionCut(Exception):
    """Raised inside the app to abort a connection part-way, as a scripted fault asks.

    An ASGI app has no other way to drop a connection: the server closes it when the app raises
    after the response started, and the client sees an incomplete body.
    """


@attrs.frozen(kw_only=True)
class RecordedRequest:
    """A request as it reached the fake server, for tests to assert on.

    ``provider`` is the mount the path fell under ("" for none), ``path`` the full path,
    ``headers`` have lower-case names, ``json`` is the parsed body (``None`` if the body was
    empty, not JSON or invalid) and ``body`` the raw bytes.
    """

    provider: str
    method: str
    path: str
    query: Mapping[str, str]
    headers: Mapping[str, str]
    json: Any
    body: bytes = b""


def compile_path(template: str) -> re.Pattern[str]:
    """A regular expression for a route template, to be used with ``fullmatch``.

    ``{name}`` matches one path segment, or the part of it before a literal that follows, as
    in ``/models/{model}:generateContent``.
    """
    parts = _PLACEHOLDER.split(template)
    pattern = "".join(
        re.escape(part) if index % 2 == 0 else f"(?P<{part}>[^/]+?)"
        for index, part in enumerate(parts)
    )
    return re.compile(pattern)


@attrs.frozen
class _Route:
    method: str
    pattern: re.Pattern[str]
    handler: Handler


@attrs.frozen
class _Mount:
    provider: str
    prefix: str
    routes: tuple[_Route, ...]


@attrs.frozen
class _Match:
    provider: str
    route: _Route | None = None
    params: Mapping[str, str] = attrs.field(factory=dict)
    allowed: tuple[str, ...] = ()


def _mount(fake: FakeProvider) -> _Mount:
    if not fake.provider or "/" in fake.provider:
        raise ValueError(f"fake provider name {fake.provider!r} must be one non-empty path segment")
    base = fake.base_path.rstrip("/")
    if base and not base.startswith("/"):
        raise ValueError(f"base_path {fake.base_path!r} of fake provider {fake.provider!r} "
                         "must start with '/'")
    routes = tuple(_route(fake.provider, route) for route in fake.routes)
    return _Mount(provider=fake.provider, prefix=f"/{fake.provider}{base}", routes=routes)


def _route(provider: str, route: FakeRoute) -> _Route:
    if not route.path.startswith("/"):
        raise ValueError(f"route path {route.path!r} of fake provider {provider!r} must start "
                         "with '/'")
    return _Route(route.method.upper(), compile_path(route.path), route.handler)


class FakeApp:
    """The ASGI application behind :class:`~agentflow.testing.FakeServer`.

    ``script`` and ``requests`` are safe to use from any thread while the app serves. With
    ``record=False`` no request is kept (a long-running server nobody inspects, such as
    ``python -m agentflow.testing.server``, would otherwise grow without end).
    """

    def __init__(self, providers: Iterable[FakeProvider] = (), *, record: bool = True) -> None:
        self._mounts: dict[str, _Mount] = {}
        for fake in providers:
            mount = _mount(fake)
            if mount.provider in self._mounts:
                raise ValueError(f"two fake emulations of provider {mount.provider!r}; each "
                                 "provider can be mounted once")
            self._mounts[mount.provider] = mount
        self._lock = threading.Lock()
        self._scripts: dict[str, deque[Reply]] = {name: deque() for name in self._mounts}
        self._requests: list[RecordedRequest] = []
        self._recording = record
        # Wake-ups of tasks in wait_for_requests (on any thread's event loop), called from the
        # serving thread after each recorded request.
        self._wakers: set[Callable[[], None]] = set()
        # Cancel scopes of the responses that wait (delays), so that stopping is immediate.
        # Touched only on the serving thread.
        self._waiting: set[anyio.CancelScope] = set()
        self._closing = False

    # the test-facing side --------------------------------------------------------------------

    @property
    def provider_names(self) -> tuple[str, ...]:
        """The mounted providers, in the order they were given."""
        return tuple(self._mounts)

    def prefix(self, provider: str) -> str:
        """The path ``provider`` is mounted at: ``/<provider><base_path>``."""
        return self._mount_of(provider).prefix

    def script(self, provider: str, *replies: Reply) -> None:
        """Queue ``replies`` for the next requests to ``provider``, first in, first out."""
        self._mount_of(provider)
        with self._lock:
            self._scripts[provider].extend(replies)

    def pending(self, provider: str) -> int:
        """How many scripted replies of ``provider`` are still waiting for a request."""
        self._mount_of(provider)
        with self._lock:
            return len(self._scripts[provider])

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received so far, oldest first (a copy)."""
        with self._lock:
            return list(self._requests)

    async def wait_for_requests(self, count: int = 1, *, provider: str | None = None,
                                timeout: float = 30.0) -> list[RecordedRequest]:
        """Wait until ``count`` requests (to ``provider``, if given) have arrived since the
        last :meth:`clear`; return those requests, oldest first.

        Call it from the test's event loop (asyncio or trio); the app serves on another
        thread and wakes it as each request is recorded. A request counts once its body has
        been read, before any scripted delay. ``timeout`` (seconds) only guards against a
        hang: it raises :class:`TimeoutError`. A request that arrived has taken its scripted
        reply (if it matched a route), whether or not it is answered yet.
        """
        if not self._recording:
            raise RuntimeError("this fake server keeps no requests (record=False); there is "
                               "nothing to wait for")

        def arrived() -> list[RecordedRequest]:
            return [r for r in self.requests if provider is None or r.provider == provider]

        with anyio.fail_after(timeout):
            while len(seen := arrived()) < count:
                event = anyio.Event()
                wake = _threadsafe(event.set)
                with self._lock:
                    self._wakers.add(wake)
                try:
                    if len(arrived()) < count:  # one may have come before the waker was in
                        await event.wait()
                finally:
                    with self._lock:
                        self._wakers.discard(wake)
        return seen

    def clear(self) -> None:
        """Forget the recorded requests and every reply still scripted."""
        with self._lock:
            self._requests.clear()
            for queue in self._scripts.values():
                queue.clear()

    def begin_shutdown(self) -> None:
        """End every response still waiting on a delay; call on the serving thread.

        A response that has not started gets a 503; one part-sent is cut. Until
        :meth:`end_shutdown`, responses that wait are treated the same way.
        """
        self._closing = True
        for scope in list(self._waiting):
            scope.cancel()

    def end_shutdown(self) -> None:
        """Serve normally again (the server may be started anew)."""
        self._closing = False

    def _mount_of(self, provider: str) -> _Mount:
        try:
            return self._mounts[provider]
        except KeyError:
            known = ", ".join(sorted(self._mounts)) or "none"
            raise ValueError(f"the fake server has no provider {provider!r} (mounted: "
                             f"{known})") from None

    def _next_reply(self, provider: str) -> Reply:
        with self._lock:
            queue = self._scripts[provider]
            return queue.popleft() if queue else Reply()

    def _record(self, request: RecordedRequest) -> None:
        if not self._recording:
            return
        with self._lock:
            self._requests.append(request)
            wakers = list(self._wakers)
        for wake in wakers:
            wake()

    # ASGI ------------------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one ASGI connection scope."""
        if scope["type"] == "http":
            await self._http(scope, receive, send)
        elif scope["type"] == "lifespan":
            await _lifespan(receive, send)

    def _match(self, method: str, path: str) -> _Match:
        mount = self._mounts.get(path.split("/", 2)[1] if path.startswith("/") else "")
        if mount is None or not _under(path, mount.prefix):
            return _Match(provider=mount.provider if mount else "")
        rest = path[len(mount.prefix):] or "/"
        allowed: list[str] = []
        for route in mount.routes:
            found = route.pattern.fullmatch(rest)
            if found is None:
                continue
            if route.method == method:
                return _Match(provider=mount.provider, route=route, params=found.groupdict())
            allowed.append(route.method)
        return _Match(provider=mount.provider, allowed=tuple(allowed))

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = await _read_body(receive)
        if body is None:
            return  # the client left before sending its request
        method: str = scope["method"]
        path: str = scope["path"]
        headers = _request_headers(scope["headers"])
        query = dict(parse_qsl(scope["query_string"].decode("latin-1"), keep_blank_values=True))
        parsed, problem = _parse_json(body, headers.get("content-type", ""))
        match = self._match(method, path)
        # The scripted reply is taken before the request is recorded, so that a test which
        # saw the request arrive (wait_for_requests) knows it has its reply too.
        answered = match.route is not None and problem is None
        reply = self._next_reply(match.provider) if answered else Reply()
        self._record(RecordedRequest(provider=match.provider, method=method, path=path,
                                     query=query, headers=headers, json=parsed, body=body))
        if match.route is None:
            await _reply_for_no_route(send, method, path, match)
            return
        if problem is not None:
            await _send_json(send, 400, _error(f"request body is not valid JSON: {problem}",
                                               "invalid_request_error"))
            return
        call = FakeCall(provider=match.provider, method=method, path=path,
                        path_params=match.params, query=query, headers=headers, body=body,
                        json=parsed, reply=reply)
        response = await _run_handler(match.route.handler, call)
        if reply.delay > 0 or (reply.chunk_delay > 0 and isinstance(response, FakeStream)):
            await self._render_interruptibly(receive, send, response, reply)
        else:
            await _render(send, response, reply)

    async def _render_interruptibly(self, receive: Receive, send: Send, response: FakeResponse,
                                    reply: Reply) -> None:
        """Render a response that waits: give up when the client leaves or the server stops."""
        exchange = _Exchange(send)
        async with anyio.create_task_group() as group:
            self._waiting.add(group.cancel_scope)
            if self._closing:
                group.cancel_scope.cancel()
            group.start_soon(_cancel_on_disconnect, receive, group.cancel_scope)
            try:
                await _render(exchange.send, response, reply)
            finally:
                group.cancel_scope.cancel()
                self._waiting.discard(group.cancel_scope)
        if self._closing and not exchange.complete:
            if not exchange.started:
                await _send_json(send, 503, _error("the fake server is stopping", "unavailable"))
                return
            raise ConnectionCut("the fake server stopped during the response")


def _threadsafe(function: Callable[[], None]) -> Callable[[], None]:
    """``function``, callable from any thread: it runs soon on the event loop (asyncio loop
    or trio run) that called this, without blocking the caller; once that loop has ended,
    calling it does nothing."""
    import asyncio

    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        loop = None
    if loop is not None:
        def on_asyncio() -> None:
            with contextlib.suppress(RuntimeError):  # the loop has closed
                loop.call_soon_threadsafe(function)

        return on_asyncio
    import trio  # not asyncio, so trio runs this

    token = trio.lowlevel.current_trio_token()

    def on_trio() -> None:
        with contextlib.suppress(trio.RunFinishedError):
            token.run_sync_soon(function)

    return on_trio


def _under(path: str, prefix: str) -> bool:
    return path == prefix or path.startswith(prefix + "/")


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


async def _read_body(receive: Receive) -> bytes | None:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


async def _cancel_on_disconnect(receive: Receive, scope: anyio.CancelScope) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass
    scope.cancel()


def _request_headers(raw: Iterable[tuple[bytes, bytes]]) -> dict[str, str]:
    headers: dict[str, str] = {}
    for raw_name, raw_value in raw:
        name, value = raw_name.decode("latin-1").lower(), raw_value.decode("latin-1")
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
    return headers


def _parse_json(body: bytes, content_type: str) -> tuple[Any, str | None]:
    """The parsed body and ``None``, or ``None`` and why the body is not JSON.

    Bodies declared as something other than JSON are left to the handler (``call.body``).
    """
    if not body or (content_type and "json" not in content_type.lower()):
        return None, None
    try:
        return json.loads(body), None
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError
        return None, str(exc)


def _error(message: str, kind: str) -> dict[str, Any]:
    return {"error": {"message": message, "type": kind}}


async def _reply_for_no_route(send: Send, method: str, path: str, match: _Match) -> None:
    if match.allowed:
        await _send_json(send, 405, _error(
            f"{method} is not allowed on {path}; the fake route takes "
            f"{', '.join(match.allowed)}", "method_not_allowed"),
            headers={"allow": ", ".join(match.allowed)})
        return
    where = (f"no fake route of provider {match.provider!r} matches {path}" if match.provider
             else f"no fake provider is mounted at {path}")
    await _send_json(send, 404, _error(where, "not_found"))


async def _run_handler(handler: Handler, call: FakeCall) -> FakeResponse:
    """The handler's response; a failing handler becomes a 500 that says what went wrong."""
    try:
        response: object = await handler(call)  # third-party code: check what it returns
    except Exception as exc:
        logger.exception("fake route handler for %s %s failed", call.method, call.path)
        return FakeJSON(status=500, body=_error(
            f"fake route handler for {call.method} {call.path} raised "
            f"{type(exc).__name__}: {exc}", "fake_handler_error"))
    if not isinstance(response, (FakeJSON, FakeRaw, FakeStream)):
        return FakeJSON(status=500, body=_error(
            f"fake route handler for {call.method} {call.path} returned "
            f"{type(response).__name__}, not FakeJSON, FakeRaw or FakeStream",
            "fake_handler_error"))
    return response


class _Exchange:
    """Wraps ``send`` to know how far a response got."""

    def __init__(self, send: Send) -> None:
        self._send = send
        self.started = False
        self.complete = False

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.started = True
        elif not message.get("more_body", False):
            self.complete = True
        await self._send(message)


# rendering -----------------------------------------------------------------------------------


async def _render(send: Send, response: FakeResponse, reply: Reply) -> None:
    if reply.delay > 0:
        await anyio.sleep(reply.delay)
    if isinstance(response, FakeStream):
        await _send_stream(send, response, reply)
    elif isinstance(response, FakeJSON):
        body = json.dumps(response.body).encode()
        headers = _response_headers("application/json", response.headers, reply)
        await _send_body(send, response.status, headers, body, reply)
    else:
        headers = _response_headers(response.content_type, response.headers, reply)
        await _send_body(send, response.status, headers, response.body, reply)


def _response_headers(content_type: str, own: Mapping[str, str], reply: Reply) -> dict[str, str]:
    headers = {"content-type": content_type}
    headers.update((name.lower(), value) for name, value in own.items())
    headers.update((name.lower(), value) for name, value in reply.headers.items())
    if reply.retry_after is not None:
        headers.setdefault("retry-after", f"{reply.retry_after:g}")
    return headers


def _start(status: int, headers: Mapping[str, str]) -> Message:
    return {
        "type": "http.response.start",
        "status": status,
        "headers": [(name.encode("latin-1"), value.encode("latin-1"))
                    for name, value in headers.items()],
    }


async def _send_json(send: Send, status: int, body: Any,
                     headers: Mapping[str, str] | None = None) -> None:
    data = json.dumps(body).encode()
    all_headers = {"content-type": "application/json", **(headers or {}),
                   "content-length": str(len(data))}
    await send(_start(status, all_headers))
    await send({"type": _BODY, "body": data})


async def _send_body(send: Send, status: int, headers: dict[str, str], body: bytes,
                     reply: Reply) -> None:
    if reply.malformed:
        body = _truncated(body)
    headers["content-length"] = str(len(body))
    await send(_start(status, headers))
    if reply.cut_after is not None:
        half = len(body) // 2
        await send({"type": _BODY, "body": body[:half], "more_body": True})
        raise ConnectionCut(f"scripted cut after {half} of {len(body)} body bytes")
    await send({"type": _BODY, "body": body})


def _truncated(body: bytes) -> bytes:
    """The first half of ``body``, which is never valid JSON (a bare number's half might be)."""
    half = body[: len(body) // 2]
    try:
        json.loads(half)
    except ValueError:
        return half
    return b'{"truncated": '


async def _send_stream(send: Send, stream: FakeStream, reply: Reply) -> None:
    headers = _response_headers("text/event-stream", stream.headers, reply)
    headers.setdefault("cache-control", "no-cache")
    await send(_start(stream.status, headers))
    limit = reply.cut_after
    sent = 0
    for event in stream.events:
        if limit is not None and sent >= limit:
            break
        if sent and reply.chunk_delay > 0:
            await anyio.sleep(reply.chunk_delay)
        name, data = event if isinstance(event, tuple) else (None, event)
        if reply.malformed and sent == 0:
            data = stream.malformed_event
        await send({"type": _BODY, "body": sse_frame(data, name), "more_body": True})
        sent += 1
    if limit is not None:
        raise ConnectionCut(f"scripted cut after {sent} stream events")
    await send({"type": _BODY, "body": b""})


def sse_frame(data: str, event: str | None = None) -> bytes:
    """One server-sent event: an optional ``event:`` line, a ``data:`` line per line of data."""
    lines = [f"event: {event}\n"] if event is not None else []
    lines.extend(f"data: {line}\n" for line in (data.splitlines() or [""]))
    lines.append("\n")
    return "".join(lines).encode()

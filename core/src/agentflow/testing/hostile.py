"""A provider server that misbehaves on purpose, for testing what a client does with it.

:class:`HostileServer` is a bare HTTP/1.1 server on loopback (a thread per connection, no web
framework): each request is answered by the :class:`Behaviour` set with
:meth:`~HostileServer.serve`, which writes whatever bytes it likes, stalls, cuts or resets the
connection. :data:`CATALOGUE`
holds the behaviours agentflow is tested against (stalls, cuts, resets, endless lines and events,
huge and gzip-bombed bodies, redirects, wrong content types, non-UTF-8, corrupt encodings and
Retry-After values of every shape); a plugin author can run their vendor against the same
catalogue (docs/testing.md, "Hostile servers")::

    with HostileServer() as server:
        server.serve(CATALOGUE["gzip_bomb"])
        ...  # configure the provider's base_url as server.base_url, make a call, expect an LLMError

None of the behaviours depend on the vendor's wire format: they are what a broken proxy, a
crashed server or a confused load balancer sends, whatever the API behind it.
"""

from __future__ import annotations

import contextlib
import functools
import json
import select
import socket
import struct
import threading
import zlib
from collections.abc import Callable, Iterator

import attrs

__all__ = ["CATALOGUE", "Behaviour", "HostileConnection", "HostileRequest", "HostileServer",
           "catalogue", "fixed_answer", "gzip_bomb"]

#: How much the endless and huge behaviours send at most, so a test that forgot to stop reading
#: still ends.
ENDLESS_LIMIT = 512 * 1024 * 1024
#: What the huge and bomb behaviours expand to, by default: past the client's 32 MiB limits.
HUGE_SIZE = 40 * 1024 * 1024


@attrs.frozen
class HostileRequest:
    """The request a behaviour answers: method, path, headers (lower-case names) and body."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def wants_stream(self) -> bool:
        """Whether the client asked for a stream (a ``"stream": true`` body, ``alt=sse``, or
        an ``Accept: text/event-stream`` header)."""
        if "alt=sse" in self.path or "stream" in self.path.lower():
            return True
        if "text/event-stream" in self.headers.get("accept", ""):
            return True
        with contextlib.suppress(ValueError, AttributeError):
            return bool(json.loads(self.body).get("stream"))
        return False


class HostileConnection:
    """One client connection, as a behaviour sees it."""

    def __init__(self, sock: socket.socket, stopping: threading.Event) -> None:
        self.socket = sock
        self._stopping = stopping

    def send(self, data: bytes) -> None:
        """Write ``data`` (raises :class:`OSError` once the client has gone)."""
        self.socket.sendall(data)

    def head(self, status: str, headers: dict[str, str]) -> None:
        """A status line (``"200 OK"``) and headers."""
        lines = [f"HTTP/1.1 {status}", *(f"{name}: {value}" for name, value in headers.items())]
        self.send(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))

    def chunk(self, data: bytes) -> None:
        """One chunk of a ``transfer-encoding: chunked`` body."""
        self.send(f"{len(data):x}\r\n".encode() + data + b"\r\n")

    def end_chunks(self) -> None:
        """The last chunk of a chunked body."""
        self.send(b"0\r\n\r\n")

    def stall(self, seconds: float | None = None) -> None:
        """Send nothing until the client goes away, the server stops, or ``seconds`` pass."""
        waited = 0.0
        while not self._stopping.is_set() and (seconds is None or waited < seconds):
            readable, _, _ = select.select([self.socket], [], [], 0.05)
            waited += 0.05
            if readable:
                try:
                    if not self.socket.recv(65536, socket.MSG_PEEK):
                        return  # the client closed its side
                    self.socket.recv(65536)
                except OSError:
                    return

    def reset(self) -> None:
        """Close with a TCP reset, as a crashed server or proxy does."""
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.socket.close()

    @property
    def stopping(self) -> bool:
        """Whether the server is shutting down (endless behaviours stop then)."""
        return self._stopping.is_set()


Respond = Callable[[HostileConnection, HostileRequest], None]


@attrs.frozen
class Behaviour:
    """One way of misbehaving: ``respond`` writes the answer to a request.

    ``retryable`` says whether a client may reasonably try again after it (a reset, a 5xx, a
    429), which tests use to count requests.
    """

    name: str
    description: str
    respond: Respond = attrs.field(repr=False)
    retryable: bool = False


class HostileServer:
    """Serves the behaviour set with :meth:`serve` to every request, until :meth:`stop`.

    ``base_url`` points at it (any path is answered the same way); ``requests`` counts the
    requests received; ``open_connections`` counts the client connections still open, so a test
    can check that a client left none behind.
    """

    def __init__(self, behaviour: Behaviour | None = None) -> None:
        self.behaviour = behaviour or CATALOGUE["close_before_headers"]
        self.requests = 0
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._listener: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._workers: list[threading.Thread] = []

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>``; set once started."""
        if self._listener is None:
            raise RuntimeError("the hostile server is not running; call start() or use `with`")
        return f"http://127.0.0.1:{self._listener.getsockname()[1]}"

    @property
    def base_url(self) -> str:
        """A base URL to configure for any provider (``<url>/v1``)."""
        return self.url + "/v1"

    @property
    def open_connections(self) -> int:
        """Client connections accepted and not yet closed by either side."""
        with self._lock:
            return len(self._open)

    def serve(self, behaviour: Behaviour | str) -> None:
        """Answer the next requests with ``behaviour`` (or the catalogue's entry of that name)."""
        self.behaviour = CATALOGUE[behaviour] if isinstance(behaviour, str) else behaviour

    def start(self) -> HostileServer:
        """Listen on a free loopback port and serve in a background thread."""
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.05)
        self._thread = threading.Thread(target=self._accept, name="hostile-server", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving: every connection still open is closed."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        with self._lock:
            for sock in self._open:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
        for worker in self._workers:
            worker.join(timeout=5)
        if self._listener is not None:
            self._listener.close()

    def __enter__(self) -> HostileServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _accept(self) -> None:
        assert self._listener is not None
        while not self._stopping.is_set():
            try:
                sock, _ = self._listener.accept()
            except (TimeoutError, OSError):
                continue
            worker = threading.Thread(target=self._handle, args=(sock,), daemon=True)
            self._workers = [w for w in self._workers if w.is_alive()]
            self._workers.append(worker)
            worker.start()

    def _handle(self, sock: socket.socket) -> None:
        sock.settimeout(5)
        with self._lock:
            self._open.add(sock)
        try:
            connection = HostileConnection(sock, self._stopping)
            while not self._stopping.is_set():  # keep-alive: one request after another
                request = _read_request(sock)
                if request is None:
                    return
                with self._lock:
                    self.requests += 1
                self.behaviour.respond(connection, request)
                if sock.fileno() == -1:
                    return
        except OSError:
            pass  # the client went away, as clients may
        finally:
            with self._lock:
                self._open.discard(sock)
            with contextlib.suppress(OSError):
                sock.close()


def _read_request(sock: socket.socket) -> HostileRequest | None:
    data = b""
    while b"\r\n\r\n" not in data:
        part = sock.recv(65536)
        if not part:
            return None
        data += part
        if len(data) > 1024 * 1024:
            return None
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    method, path, *_ = lines[0].split(" ")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0") or 0)
    while len(body) < length:
        part = sock.recv(65536)
        if not part:
            return None
        body += part
    return HostileRequest(method=method, path=path, headers=headers, body=body)


# the catalogue ----------------------------------------------------------------------------------

_JSON = {"content-type": "application/json"}
_SSE = {"content-type": "text/event-stream", "cache-control": "no-cache"}


def _answer_headers(request: HostileRequest) -> dict[str, str]:
    return dict(_SSE if request.wants_stream else _JSON)


def _stall_before_headers(conn: HostileConnection, request: HostileRequest) -> None:
    conn.stall()


def _stall_after_headers(conn: HostileConnection, request: HostileRequest) -> None:
    conn.head("200 OK", {**_answer_headers(request), "transfer-encoding": "chunked"})
    conn.stall()


def _stall_mid_body(conn: HostileConnection, request: HostileRequest) -> None:
    conn.head("200 OK", {**_answer_headers(request), "content-length": "1000"})
    conn.send(b'data: {"id' if request.wants_stream else b'{"id": "x", ')
    conn.stall()


def _slow_drip(conn: HostileConnection, request: HostileRequest) -> None:
    conn.head("200 OK", {**_answer_headers(request), "transfer-encoding": "chunked"})
    while not conn.stopping:
        conn.chunk(b": ping\n\n" if request.wants_stream else b" ")
        conn.stall(0.05)


def _close_before_headers(conn: HostileConnection, request: HostileRequest) -> None:
    conn.socket.close()


def _reset_before_headers(conn: HostileConnection, request: HostileRequest) -> None:
    conn.reset()


def _cut_mid_body(conn: HostileConnection, request: HostileRequest) -> None:
    conn.head("200 OK", {**_answer_headers(request), "content-length": "1000"})
    conn.send(b'data: {"id": "x"' if request.wants_stream else b'{"id": "x", "cho')
    conn.socket.close()


def _reset_mid_body(conn: HostileConnection, request: HostileRequest) -> None:
    conn.head("200 OK", {**_answer_headers(request), "transfer-encoding": "chunked"})
    conn.chunk(b'data: {"id": "x"' if request.wants_stream else b'{"id": "x", "cho')
    conn.reset()


def _garbage_status_line(conn: HostileConnection, request: HostileRequest) -> None:
    conn.send(b"HELLO THERE\r\n\r\n")
    conn.socket.close()


def _endless_line(conn: HostileConnection, request: HostileRequest) -> None:
    conn.head("200 OK", {**_answer_headers(request), "transfer-encoding": "chunked"})
    conn.chunk(b"data: " if request.wants_stream else b'{"text": "')
    piece = b"x" * 65536
    for _ in range(ENDLESS_LIMIT // len(piece)):
        if conn.stopping:
            return
        conn.chunk(piece)


def _endless_events(conn: HostileConnection, request: HostileRequest) -> None:
    conn.head("200 OK", {**_answer_headers(request), "transfer-encoding": "chunked"})
    event = b'data: {"unrelated": "' + b"y" * 1000 + b'"}\n\n'
    piece = event * 64
    for _ in range(ENDLESS_LIMIT // len(piece)):
        if conn.stopping:
            return
        conn.chunk(piece)


def _huge_body(conn: HostileConnection, request: HostileRequest) -> None:
    conn.head("200 OK", {**_JSON, "transfer-encoding": "chunked"})
    piece = b" " * 65536
    for _ in range(HUGE_SIZE // len(piece)):
        conn.chunk(piece)
    conn.end_chunks()


def _huge_error_body(conn: HostileConnection, request: HostileRequest) -> None:
    conn.head("500 Internal Server Error", {**_JSON, "transfer-encoding": "chunked"})
    piece = b" " * 65536
    for _ in range(HUGE_SIZE // len(piece)):
        conn.chunk(piece)
    conn.end_chunks()


@functools.cache
def gzip_bomb(size: int = HUGE_SIZE) -> bytes:
    """``size`` spaces, gzipped: a body of a few dozen KiB that inflates to ``size`` bytes."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    block = b" " * (1024 * 1024)
    parts = [packer.compress(block) for _ in range(size // len(block))]
    return b"".join(parts) + packer.flush()


def _gzip_bomb(status: str) -> Respond:
    def respond(conn: HostileConnection, request: HostileRequest) -> None:
        body = gzip_bomb()
        conn.head(status, {**_answer_headers(request), "content-encoding": "gzip",
                           "content-length": str(len(body))})
        conn.send(body)

    return respond


def _corrupt_gzip(conn: HostileConnection, request: HostileRequest) -> None:
    body = b"\x1f\x8b\x08\x00 this is not deflate data at all"
    conn.head("200 OK", {**_answer_headers(request), "content-encoding": "gzip",
                         "content-length": str(len(body))})
    conn.send(body)


def _redirect(status: str, body: bytes) -> Respond:
    def respond(conn: HostileConnection, request: HostileRequest) -> None:
        conn.head(status, {**_JSON, "location": "https://elsewhere.invalid/v1/chat",
                           "content-length": str(len(body))})
        conn.send(body)

    return respond


def _fixed(status: str, content_type: str, body: bytes,
           extra: dict[str, str] | None = None) -> Respond:
    def respond(conn: HostileConnection, request: HostileRequest) -> None:
        conn.head(status, {"content-type": content_type, "content-length": str(len(body)),
                           **(extra or {})})
        conn.send(body)

    return respond


def fixed_answer(body: bytes, *, status: str = "200 OK",
                 content_type: str = "application/json",
                 headers: dict[str, str] | None = None, name: str = "fixed") -> Behaviour:
    """A behaviour that answers every request with ``body`` (a well-formed answer of the
    vendor under test, say, to check that a client recovers after the misbehaviour)."""
    return Behaviour(name, f"{status} with a body of {len(body)} bytes",
                     _fixed(status, content_type, body, headers))


def _non_utf8(conn: HostileConnection, request: HostileRequest) -> None:
    if request.wants_stream:
        body = b"data: \xff\xfe{\x80\x81}\n\n" * 3
        conn.head("200 OK", {**_SSE, "content-length": str(len(body))})
    else:
        body = b'{"text": "\xff\xfe\x80"}'
        conn.head("200 OK", {**_JSON, "content-length": str(len(body))})
    conn.send(body)


def _retry_after(value: str) -> Respond:
    body = b'{"error": {"message": "slow down", "type": "rate_limit"}}'
    return _fixed("429 Too Many Requests", "application/json", body, {"retry-after": value})


_CHAT_JSON = json.dumps({
    "id": "x", "object": "chat.completion", "model": "m",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "redirected text"},
                 "finish_reason": "stop"}],
    "content": [{"type": "text", "text": "redirected text"}],
    "candidates": [{"content": {"parts": [{"text": "redirected text"}]}}],
}).encode()

_BEHAVIOURS = [
    Behaviour("stall_before_headers", "reads the request and never answers",
              _stall_before_headers),
    Behaviour("stall_after_headers", "sends 200 and its headers, then nothing",
              _stall_after_headers),
    Behaviour("stall_mid_body", "sends part of the body, then nothing", _stall_mid_body),
    Behaviour("slow_drip", "sends a byte or a keep-alive every 50 ms, for ever", _slow_drip),
    Behaviour("close_before_headers", "closes the connection without answering",
              _close_before_headers, retryable=True),
    Behaviour("reset_before_headers", "resets the connection without answering",
              _reset_before_headers, retryable=True),
    Behaviour("cut_mid_body", "closes the connection in the middle of the body",
              _cut_mid_body),
    Behaviour("reset_mid_body", "resets the connection in the middle of the body",
              _reset_mid_body),
    Behaviour("garbage_status_line", "answers with something that is not HTTP",
              _garbage_status_line),
    Behaviour("endless_line", "one line (or JSON string) that never ends", _endless_line),
    Behaviour("endless_events", "small events of no known kind, for ever", _endless_events),
    Behaviour("huge_body", "a 200 body of 40 MiB, not declared in advance", _huge_body),
    Behaviour("huge_error_body", "a 500 body of 40 MiB, not declared in advance",
              _huge_error_body, retryable=True),
    Behaviour("gzip_bomb", "a 200 body of a few KiB that inflates to 40 MiB",
              _gzip_bomb("200 OK")),
    Behaviour("gzip_bomb_error", "a 500 body of a few KiB that inflates to 40 MiB",
              _gzip_bomb("500 Internal Server Error"), retryable=True),
    Behaviour("corrupt_gzip", "a 200 body declared gzip that is not", _corrupt_gzip),
    Behaviour("redirect_302_with_answer", "302 elsewhere, with a chat answer as its body",
              _redirect("302 Found", _CHAT_JSON)),
    Behaviour("redirect_307_empty", "307 elsewhere, with no body", _redirect(
        "307 Temporary Redirect", b"")),
    Behaviour("html_page", "200 with an HTML page (a captive portal, a proxy's login page)",
              _fixed("200 OK", "text/html; charset=utf-8",
                     b"<html><body><h1>Please log in</h1></body></html>")),
    Behaviour("json_array", "200 with a JSON array (Gemini without alt=sse, or a proxy)",
              _fixed("200 OK", "application/json", b'[{"unrelated": true}]')),
    Behaviour("empty_200", "200 with an empty body", _fixed("200 OK", "application/json", b"")),
    Behaviour("non_utf8", "a body whose bytes are not UTF-8", _non_utf8),
    Behaviour("done_twice", "a stream of nothing but two end markers",
              _fixed("200 OK", "text/event-stream", b"data: [DONE]\n\ndata: [DONE]\n\n")),
    *(Behaviour(f"retry_after_{label}", f"429 with Retry-After: {value!r}", _retry_after(value),
                retryable=True)
      for label, value in [("huge", "99999"), ("negative", "-5"), ("words", "soon"),
                           ("past_date", "Wed, 21 Oct 2015 07:28:00 GMT"),
                           ("far_date", "Fri, 31 Dec 9999 23:59:59 GMT"),
                           ("exponent", "1e308"), ("nan", "nan"), ("inf", "inf"),
                           ("empty", "")]),
]

#: Every behaviour, by name.
CATALOGUE: dict[str, Behaviour] = {behaviour.name: behaviour for behaviour in _BEHAVIOURS}


def catalogue() -> Iterator[Behaviour]:
    """The behaviours of :data:`CATALOGUE`, in a stable order (for ``pytest.mark.parametrize``)."""
    return iter(_BEHAVIOURS)

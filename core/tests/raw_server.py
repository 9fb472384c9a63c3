"""A bare HTTP/1.1 server on a loopback socket, for faults the fake server cannot script
(a connection reset before any answer, a chunked body of any size)."""

from __future__ import annotations

import contextlib
import json
import socket
import struct
import threading
from collections.abc import Callable
from typing import Any

#: ``handler(connection, number, request_json)`` answers (or not) the ``number``-th request.
Handler = Callable[[socket.socket, int, Any], None]


class RawServer:
    """Accepts connections one at a time; each request goes to ``handler``."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.connections = 0
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.05)  # so that the serving thread notices the end
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._listener.getsockname()[1]}/v1"

    def __enter__(self) -> RawServer:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stopping.set()
        self._thread.join(timeout=5)
        self._listener.close()

    def _serve(self) -> None:
        while not self._stopping.is_set():
            try:
                connection, _ = self._listener.accept()
            except TimeoutError:
                continue
            with connection:
                connection.settimeout(5)
                self.connections += 1
                with contextlib.suppress(OSError):  # the client went away, as clients may
                    self.handler(connection, self.connections, read_request(connection))


def read_request(connection: socket.socket) -> Any:
    """The JSON body of the request on ``connection`` (headers and body read whole)."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += connection.recv(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                   if line.lower().startswith(b"content-length")), 0)
    while len(body) < length:
        body += connection.recv(65536)
    return json.loads(body) if body else None


def reset(connection: socket.socket) -> None:
    """Close with a TCP reset, as a crashed server or proxy would."""
    connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


def send_json(connection: socket.socket, body: Any) -> None:
    data = json.dumps(body).encode()
    connection.sendall(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
                       b"connection: close\r\ncontent-length: " + str(len(data)).encode()
                       + b"\r\n\r\n" + data)


def send_chunked(connection: socket.socket, size: int, piece: bytes = b"x" * 100) -> None:
    """A 200 answer whose body is ``size`` bytes in chunks, with no content-length."""
    connection.sendall(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
                       b"transfer-encoding: chunked\r\nconnection: close\r\n\r\n")
    for _ in range(size // len(piece)):
        connection.sendall(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
    connection.sendall(b"0\r\n\r\n")

"""A real ``redis-server`` for tests, on a free loopback port, with nothing saved to disk.

::

    with RedisServer() as server:
        url = server.url          # redis://127.0.0.1:<port>/0
        server.kill()             # SIGKILL: as a crashed server
        server.start()            # again, on the same port, empty

Nothing at run time imports this package. ``redis-server`` must be on ``PATH`` (Debian:
``apt-get install redis-server``); :func:`find_redis_server` says where it is, or ``None``.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from types import TracebackType

__all__ = ["RedisServer", "find_redis_server"]

STARTUP_TIMEOUT = 10.0


def find_redis_server() -> str | None:
    """The ``redis-server`` executable, or ``None`` when it is not installed."""
    return shutil.which("redis-server") or (
        "/usr/bin/redis-server" if shutil.which("/usr/bin/redis-server") else None)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class RedisServer:
    """One ``redis-server`` process on 127.0.0.1, without persistence."""

    def __init__(self, port: int | None = None, *, executable: str | None = None) -> None:
        found = executable or find_redis_server()
        if found is None:
            raise RuntimeError("redis-server is not installed (Debian: apt-get install -y "
                               "redis-server)")
        self.executable = found
        self.port = port or _free_port()
        self._process: subprocess.Popen[bytes] | None = None
        self._dir = tempfile.TemporaryDirectory(prefix="agentflow-redis-")

    @property
    def url(self) -> str:
        """``redis://127.0.0.1:<port>/0``."""
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def running(self) -> bool:
        """Whether the server process is alive."""
        return self._process is not None and self._process.poll() is None

    def start(self) -> RedisServer:
        """Start the server; returns once it accepts connections."""
        if self.running:
            raise RuntimeError("redis-server is already running")
        self._process = subprocess.Popen(
            [self.executable, "--port", str(self.port), "--bind", "127.0.0.1",
             "--save", "", "--appendonly", "no", "--dir", self._dir.name,
             "--protected-mode", "yes", "--loglevel", "warning"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"redis-server exited at start ({self._process.returncode}); "
                                   f"is port {self.port} free?")
            if _answers(self.port):
                return self
            time.sleep(0.01)
        self.stop()
        raise RuntimeError(f"redis-server did not start within {STARTUP_TIMEOUT:g} s")

    def kill(self) -> None:
        """End the server at once (SIGKILL), as a crash would; its data is gone."""
        process, self._process = self._process, None
        if process is not None:
            process.kill()
            process.wait()

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL after 5 s)."""
        process, self._process = self._process, None
        if process is None:
            return
        process.terminate()
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def command(self, *args: str) -> bytes:
        """Run one command synchronously (for test set-up and inspection)."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as sock:
            parts = [b"*%d\r\n" % len(args)]
            for arg in args:
                data = arg.encode()
                parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
            sock.sendall(b"".join(parts))
            return sock.recv(1 << 20)

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.stop()
        self._dir.cleanup()


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            sock.sendall(b"*1\r\n$4\r\nPING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False

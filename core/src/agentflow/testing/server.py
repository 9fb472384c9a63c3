"""Running the fake provider server: uvicorn on loopback, in a background thread.

:class:`FakeServer` serves :class:`~agentflow.testing.app.FakeApp` on its own asyncio loop in a
thread of its own, so a test can use it whatever event loop the test itself runs (asyncio,
trio, none), and starts and stops it synchronously. uvicorn is imported only when a server
starts (``pip install 'agentflow-core[testing]'``).

Run as a program, it serves the emulations of the installed plugins until stdin closes or it
gets SIGTERM or SIGINT; benchmarks run it this way, in a process of its own::

    python -m agentflow.testing.server --port 0 --print-url
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import socket
import sys
import threading
import time
import warnings
from collections.abc import Iterable, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any

from agentflow.testing.app import ConnectionCut, FakeApp, RecordedRequest
from agentflow.testing.fake import FakeProvider, Reply

if TYPE_CHECKING:
    from agentflow._plugins.host import PluginHost

__all__ = ["FakeServer", "collect_fakes", "main"]

#: How long :meth:`FakeServer.start` waits for the server to listen.
STARTUP_TIMEOUT = 10.0
#: How long stopping waits for responses in flight before cancelling them.
SHUTDOWN_GRACE = 2.0


class FakeServer:
    """The fake provider server: real HTTP on loopback, answering like the vendors do.

    ::

        with FakeServer.from_plugins() as server:
            server.script("openai", Reply(text="Hi"), Reply(status=429, retry_after=1))
            base_url = server.base_url("openai")  # http://127.0.0.1:<port>/openai/v1
            ...
            assert server.requests[-1].json["model"] == "gpt-4o"

    ``providers`` are the emulations to mount (each plugin contributes its own through the
    ``agentflow_fake_routes`` hook; :meth:`from_plugins` collects them). The server listens on
    ``bind`` (loopback by default) and ``port`` (0: any free port).
    """

    def __init__(self, providers: Iterable[FakeProvider] = (), *, bind: str = "127.0.0.1",
                 port: int = 0, record: bool = True) -> None:
        self.app = FakeApp(providers, record=record)
        self._bind = bind
        self._port = port
        self._url: str | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop_requested: asyncio.Event | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    @classmethod
    def from_plugins(cls, host: PluginHost | None = None, *, bind: str = "127.0.0.1",
                     port: int = 0, record: bool = True) -> FakeServer:
        """A server with the emulation of every vendor whose plugin ``host`` has loaded.

        ``host`` defaults to the process-wide plugin host (the installed plugins). A plugin
        whose ``agentflow_fake_routes`` fails is left out with a :class:`RuntimeWarning`
        naming it; the others are served.
        """
        if host is None:
            from agentflow._plugins.host import get_plugin_host

            host = get_plugin_host()
        return cls(collect_fakes(host), bind=bind, port=port, record=record)

    # what tests use --------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The server's root URL, e.g. ``http://127.0.0.1:54321``; set once started."""
        if self._url is None:
            raise RuntimeError("the fake server is not running; call start() or use `with`")
        return self._url

    @property
    def provider_names(self) -> tuple[str, ...]:
        """The providers this server emulates."""
        return self.app.provider_names

    def base_url(self, provider: str) -> str:
        """The base URL to configure for ``provider``: ``<url>/<provider><base_path>``."""
        return self.url + self.app.prefix(provider)

    def script(self, provider: str, *replies: Reply) -> None:
        """Queue ``replies`` for the next requests to ``provider``, first in, first out.

        When a provider's queue is empty, requests get ``Reply()``: an echo of the prompt.
        """
        self.app.script(provider, *replies)

    def pending(self, provider: str) -> int:
        """How many scripted replies of ``provider`` no request has taken yet."""
        return self.app.pending(provider)

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request the server received so far, oldest first (a copy)."""
        return self.app.requests

    async def wait_for_requests(self, count: int = 1, *, provider: str | None = None,
                                timeout: float = 30.0) -> list[RecordedRequest]:
        """Wait until ``count`` requests (to ``provider``, if given) have reached the server
        since the last :meth:`clear`, and return them: the event a test waits on instead of
        sleeping and hoping the request got there (before cancelling a call, say)::

            async with anyio.create_task_group() as tasks:
                tasks.start_soon(call)
                await server.wait_for_requests(1)   # the server has the request now
                tasks.cancel_scope.cancel()

        Works under asyncio and trio. ``timeout`` only guards against a hang (TimeoutError).
        """
        return await self.app.wait_for_requests(count, provider=provider, timeout=timeout)

    def clear(self) -> None:
        """Forget the recorded requests and every reply still scripted."""
        self.app.clear()

    # running -----------------------------------------------------------------------------------

    def start(self) -> FakeServer:
        """Start serving; returns once the port accepts connections."""
        if self._thread is not None:
            raise RuntimeError("the fake server is already running")
        uvicorn = _import_uvicorn()
        _quiet_scripted_cuts()
        listener = _listen(self._bind, self._port)
        try:
            config = uvicorn.Config(
                self.app, log_config=None, log_level="warning", access_log=False,
                lifespan="off", http="auto", ws="none", interface="asgi3", proxy_headers=False)
            config.load()
            server = uvicorn.Server(config)
        except BaseException:
            listener.close()
            raise
        host, port = listener.getsockname()[:2]
        self._ready.clear()
        self._thread = threading.Thread(target=self._run, args=(server, listener), daemon=True,
                                        name=f"agentflow-fake-server-{port}")
        self._thread.start()
        if not self._ready.wait(STARTUP_TIMEOUT):
            self.stop()
            raise RuntimeError(f"the fake server did not start within {STARTUP_TIMEOUT:g} s")
        error, self._error = self._error, None
        if error is not None:
            self._thread.join()
            self._thread = None
            raise RuntimeError(f"the fake server failed to start: {error!r}") from error
        self._url = f"http://{f'[{host}]' if ':' in host else host}:{port}"
        return self

    def stop(self) -> None:
        """Stop serving: close every connection and wait for the server's thread to end.

        Responses still waiting on a scripted delay are ended at once. Does nothing if the
        server is not running.
        """
        thread, loop, stop_requested = self._thread, self._loop, self._stop_requested
        if thread is None:
            return
        if loop is not None and stop_requested is not None:
            with contextlib.suppress(RuntimeError):  # the loop has already closed
                loop.call_soon_threadsafe(stop_requested.set)
        thread.join()
        self._thread = self._loop = self._stop_requested = None
        self._url = None

    @property
    def running(self) -> bool:
        """Whether the server is serving."""
        return self._thread is not None and self._thread.is_alive()

    def __enter__(self) -> FakeServer:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.stop()

    def __repr__(self) -> str:
        where = self._url or "not running"
        return f"<FakeServer {where} providers={list(self.provider_names)}>"

    # the serving thread ------------------------------------------------------------------------

    def _run(self, server: Any, listener: socket.socket) -> None:
        try:
            asyncio.run(self._serve(server, listener))
        except BaseException as exc:  # reported to start(); the thread must not die loudly
            if self._ready.is_set():
                raise
            self._error = exc
        finally:
            listener.close()  # already closed by the server unless startup failed
            self._ready.set()

    async def _serve(self, server: Any, listener: socket.socket) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop_requested = asyncio.Event()
        # What uvicorn's Server.serve() does before startup(); its main loop and shutdown are
        # replaced below, because they poll every 0.1 s and stopping should be immediate.
        server.lifespan = server.config.lifespan_class(server.config)
        try:
            await server.startup(sockets=[listener])
        except SystemExit as exc:  # uvicorn exits on a failed startup
            raise RuntimeError(f"uvicorn could not start (exit status {exc.code})") from None
        self._ready.set()
        await self._stop_requested.wait()
        await _shutdown(server, self.app)


def collect_fakes(host: PluginHost) -> list[FakeProvider]:
    """Every plugin's emulations, asking each plugin on its own (one pluggy call per plugin,
    in pluggy's order) so that one failing is not fatal."""
    fakes: list[FakeProvider] = []
    for plugin, ask in host.callers_by_plugin("agentflow_fake_routes"):
        try:
            found = [fake for group in ask() for fake in group or ()]
        except Exception as exc:
            warnings.warn(
                f"agentflow plugin {plugin!r} failed to give its fake routes "
                f"({type(exc).__name__}: {exc}); the fake server runs without its vendor",
                RuntimeWarning, stacklevel=3)
            continue
        fakes.extend(found)
    return fakes


async def _shutdown(server: Any, app: FakeApp) -> None:
    """Stop listening, end waiting responses, close every connection, wait for the tasks."""
    for listening in server.servers:
        listening.close()
    app.begin_shutdown()
    state = server.server_state
    for connection in list(state.connections):
        connection.shutdown()  # closes idle keep-alive connections, ends busy ones after reply
    loop = asyncio.get_running_loop()
    deadline = loop.time() + SHUTDOWN_GRACE
    while (state.connections or state.tasks) and loop.time() < deadline:
        await asyncio.sleep(0.001)
    for task in list(state.tasks):
        task.cancel()
    deadline = loop.time() + SHUTDOWN_GRACE
    while (state.connections or state.tasks) and loop.time() < deadline:
        await asyncio.sleep(0.001)
    for connection in list(state.connections):  # still there: a peer that never finishes
        connection.transport.close()
    await asyncio.sleep(0)  # let connection_lost run
    for listening in server.servers:
        await listening.wait_closed()
    app.end_shutdown()


def _listen(bind: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in bind else socket.AF_INET
    # proto must say TCP: asyncio sets TCP_NODELAY on accepted sockets only then, and without
    # it every response written in two parts waits ~40 ms for a delayed ACK.
    listener = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        if sys.platform != "win32":
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((bind, port))
    except BaseException:
        listener.close()
        raise
    return listener


def _import_uvicorn() -> Any:
    try:
        import uvicorn
    except ModuleNotFoundError as exc:
        from agentflow.errors import ConfigurationError

        raise ConfigurationError(
            "the fake provider server needs uvicorn, which is not installed; install it with "
            "pip install 'agentflow-core[testing]'") from exc
    return uvicorn


class _DropScriptedCuts(logging.Filter):
    """uvicorn logs an app that raises as an error; a scripted cut is not one."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and isinstance(record.exc_info[1], ConnectionCut))


_cut_filter = _DropScriptedCuts()


def _quiet_scripted_cuts() -> None:
    logger = logging.getLogger("uvicorn.error")
    if _cut_filter not in logger.filters:
        logger.addFilter(_cut_filter)


# python -m agentflow.testing.server ----------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    """Serve the installed plugins' emulations until stdin closes, SIGTERM or Ctrl-C."""
    parser = argparse.ArgumentParser(
        prog="python -m agentflow.testing.server",
        description="Serve agentflow's fake provider server with the emulation of every "
                    "installed vendor plugin, until stdin closes or SIGTERM/SIGINT.")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on "
                        "(default: 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port (default 0: any free port)")
    parser.add_argument("--print-url", action="store_true",
                        help="print the server's URL as the first line on stdout")
    parser.add_argument("--ignore-stdin", action="store_true",
                        help="do not stop when stdin closes; only on SIGTERM or SIGINT")
    args = parser.parse_args(argv)

    # Nobody can read the recorded requests of a server in its own process: keep none.
    server = FakeServer.from_plugins(bind=args.host, port=args.port, record=False)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        with server:
            if args.print_url:
                print(server.url, flush=True)
            mounted = ", ".join(f"{name} at {server.base_url(name)}"
                                for name in server.provider_names) or "no provider plugin"
            print(f"agentflow fake provider server on {server.url}: {mounted}",
                  file=sys.stderr, flush=True)
            _wait_for_the_end(ignore_stdin=args.ignore_stdin)
    except KeyboardInterrupt:
        pass
    return 0


def _wait_for_the_end(*, ignore_stdin: bool) -> None:
    if not ignore_stdin and sys.stdin is not None:
        while os.read(sys.stdin.fileno(), 65536):
            pass
        return
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    sys.exit(main())

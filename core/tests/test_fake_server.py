"""The fake provider server over real loopback HTTP: routing, scripting, faults, shutdown.

A tiny vendor plugin defined here contributes its emulation through ``agentflow_fake_routes``,
as a real plugin does; the tests talk to it with plain httpx.
"""

from __future__ import annotations

import functools
import json
import os
import socket
import subprocess
import sys
import textwrap
import threading
import time

import anyio
import httpx
import pytest

from agentflow._plugins.host import PluginHost
from agentflow.hookspecs import hookimpl
from agentflow.testing import (
    FakeCall,
    FakeJSON,
    FakeProvider,
    FakeRaw,
    FakeRoute,
    FakeServer,
    FakeStream,
    RecordedRequest,
    Reply,
)
from agentflow.testing.app import compile_path, sse_frame
from agentflow.testing.server import SHUTDOWN_GRACE

pytest_plugins = ["pytester"]


# the tiny vendor -------------------------------------------------------------------------------


async def complete(call: FakeCall) -> FakeJSON:
    reply = call.reply
    if reply.status >= 400:
        headers = {} if reply.retry_after is None else {"retry-after": f"{reply.retry_after:g}"}
        return FakeJSON(status=reply.status, body={"problem": reply.error_message},
                        headers=headers)
    return FakeJSON(body={"text": reply.text_for(call.json["prompt"]), "model": call.json["model"]})


async def stream(call: FakeCall) -> FakeStream:
    text = call.reply.text_for(call.json["prompt"])
    events: list[str | tuple[str, str]] = [json.dumps({"delta": piece})
                                           for piece in call.reply.split(text)]
    events.append(("done", json.dumps({"finish": "stop"})))
    return FakeStream(events=events)


async def generate(call: FakeCall) -> FakeJSON:
    return FakeJSON(body={"model": call.path_params["model"], "query": dict(call.query)})


async def job(call: FakeCall) -> FakeRaw:
    return FakeRaw(body=f"job {call.path_params['job_id']}".encode(), content_type="text/plain")


async def broken(call: FakeCall) -> FakeJSON:
    raise ZeroDivisionError("the handler divided by zero")


class TinyVendor:
    @hookimpl
    def agentflow_fake_routes(self) -> list[FakeProvider]:
        return [FakeProvider(provider="tiny", base_path="/api/v2", routes=[
            FakeRoute(method="POST", path="/complete", handler=complete),
            FakeRoute(method="POST", path="/stream", handler=stream),
            FakeRoute(method="POST", path="/models/{model}:generateContent", handler=generate),
            FakeRoute(method="GET", path="/jobs/{job_id}", handler=job),
            FakeRoute(method="POST", path="/broken", handler=broken),
        ])]


class OtherVendor:
    @hookimpl
    def agentflow_fake_routes(self) -> list[FakeProvider]:
        return [FakeProvider(provider="other", base_path="", routes=[
            FakeRoute(method="POST", path="/complete", handler=complete)])]


class BrokenVendor:
    @hookimpl
    def agentflow_fake_routes(self) -> list[FakeProvider]:
        raise ImportError("no module named broken_vendor._fake")


def tiny_host() -> PluginHost:
    host = PluginHost(entry_points=False)
    host.register(TinyVendor())
    return host


@pytest.fixture(scope="module")
def server():
    with FakeServer.from_plugins(tiny_host()) as running:
        yield running


@pytest.fixture
def client(server):
    server.clear()
    with httpx.Client(base_url=server.base_url("tiny"), timeout=5) as http:
        yield http


def ask(client, prompt="hello there", path="/complete", **extra):
    return client.post(path, json={"model": "tiny-1", "prompt": prompt, **extra})


def read_events(response: httpx.Response, received: list[str]) -> None:
    """Append each complete SSE event's data (or ``name:data``) to ``received``."""
    name, data = None, []
    for line in response.iter_lines():
        if line.startswith("event: "):
            name = line[len("event: "):]
        elif line.startswith("data: "):
            data.append(line[len("data: "):])
        elif line == "":
            received.append("\n".join(data) if name is None else f"{name}:{chr(10).join(data)}")
            name, data = None, []


# replies ---------------------------------------------------------------------------------------


def test_server_url_and_base_url(server):
    assert server.url.startswith("http://127.0.0.1:")
    assert server.base_url("tiny") == server.url + "/tiny/api/v2"
    assert server.provider_names == ("tiny",)
    assert repr(server) == f"<FakeServer {server.url} providers=['tiny']>"


def test_echo_reply_by_default(client):
    response = ask(client, "hello there")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"text": "You said: hello there", "model": "tiny-1"}


def test_scripted_replies_are_taken_first_in_first_out(client, server):
    server.script("tiny", Reply(text="first"), Reply(text="second"))
    server.script("tiny", Reply(text="third"))
    assert server.pending("tiny") == 3
    texts = [ask(client).json()["text"] for _ in range(4)]
    assert texts == ["first", "second", "third", "You said: hello there"]
    assert server.pending("tiny") == 0


def test_status_and_retry_after(client, server):
    server.script("tiny", Reply(status=429, error_message="slow down", retry_after=1.5))
    response = ask(client)
    assert response.status_code == 429
    assert response.headers["retry-after"] == "1.5"
    assert response.json() == {"problem": "slow down"}


def test_retry_after_is_added_when_the_handler_leaves_it_out(client, server):
    server.script("tiny", Reply(status=503, retry_after=2))
    assert ask(client, path="/stream").headers["retry-after"] == "2"


def test_reply_headers_are_sent(client, server):
    server.script("tiny", Reply(headers={"X-Request-Id": "req-42"}))
    assert ask(client).headers["x-request-id"] == "req-42"


def test_delay_comes_before_the_response(client, server):
    server.script("tiny", Reply(text="late", delay=0.3))
    started = time.perf_counter()
    response = ask(client)
    assert time.perf_counter() - started >= 0.3
    assert response.json()["text"] == "late"


def test_malformed_json_body(client, server):
    server.script("tiny", Reply(text="broken", malformed=True))
    response = ask(client)
    assert response.status_code == 200
    assert response.content.startswith(b'{"text": ')
    assert int(response.headers["content-length"]) == len(response.content)
    with pytest.raises(json.JSONDecodeError):
        response.json()


def test_cut_json_body_raises_remote_protocol_error(client, server):
    server.script("tiny", Reply(cut_after=0))
    with pytest.raises(httpx.RemoteProtocolError, match="without sending complete message body"):
        ask(client)
    assert ask(client).status_code == 200  # the next request is served as usual


def test_handler_failure_is_a_500_that_names_it(client, caplog):
    response = ask(client, path="/broken")
    assert response.status_code == 500
    message = response.json()["error"]["message"]
    assert "ZeroDivisionError: the handler divided by zero" in message
    assert "/tiny/api/v2/broken" in message


# streams ---------------------------------------------------------------------------------------


def test_stream_events_arrive_in_order(client, server):
    server.script("tiny", Reply(text="one two three"))
    received: list[str] = []
    with client.stream("POST", "/stream", json={"model": "m", "prompt": "x"}) as response:
        assert response.headers["content-type"] == "text/event-stream"
        assert "content-length" not in response.headers
        read_events(response, received)
    assert received == ['{"delta": "one"}', '{"delta": " two"}', '{"delta": " three"}',
                        'done:{"finish": "stop"}']


def test_chunks_split_the_stream(client, server):
    server.script("tiny", Reply(text="abcdefgh", chunks=4))
    received: list[str] = []
    with client.stream("POST", "/stream", json={"model": "m", "prompt": "x"}) as response:
        read_events(response, received)
    assert [json.loads(event)["delta"] for event in received[:-1]] == ["ab", "cd", "ef", "gh"]


def test_chunk_delay_spaces_the_events(client, server):
    server.script("tiny", Reply(text="a b c d", chunk_delay=0.05))
    arrivals: list[float] = []
    # Timed from before the request: the server cannot send the last event sooner than its
    # delays allow, however late a busy client reads the first one (the gap between the
    # first and last arrivals shrank below the delays on a loaded machine).
    started = time.perf_counter()
    with client.stream("POST", "/stream", json={"model": "m", "prompt": "x"}) as response:
        for line in response.iter_lines():
            if line.startswith("data: "):
                arrivals.append(time.perf_counter())
    assert len(arrivals) == 5
    assert arrivals[-1] - started >= 4 * 0.05 * 0.9


@pytest.mark.parametrize("cut_after", [0, 1, 3])
def test_cut_stream_raises_after_exactly_k_events(client, server, cut_after, caplog):
    server.script("tiny", Reply(text="a b c d e", cut_after=cut_after))
    received: list[str] = []
    with client.stream("POST", "/stream", json={"model": "m", "prompt": "x"}) as response:
        assert response.status_code == 200
        with pytest.raises(httpx.RemoteProtocolError, match="incomplete chunked read"):
            read_events(response, received)
    assert received == [json.dumps({"delta": piece}) for piece in ["a", " b", " c"][:cut_after]]
    # uvicorn logs before it closes the connection: a scripted cut is not logged as an error
    assert [record for record in caplog.records if record.name.startswith("uvicorn")] == []


def test_cut_after_more_events_than_the_stream_has_still_cuts(client, server):
    server.script("tiny", Reply(text="a b", cut_after=10))
    received: list[str] = []
    with client.stream("POST", "/stream", json={"model": "m", "prompt": "x"}) as response, \
            pytest.raises(httpx.RemoteProtocolError):
        read_events(response, received)
    assert len(received) == 3


def test_malformed_stream_replaces_the_first_event(client, server):
    server.script("tiny", Reply(text="a b", malformed=True))
    received: list[str] = []
    with client.stream("POST", "/stream", json={"model": "m", "prompt": "x"}) as response:
        read_events(response, received)
    assert received == ['{"truncated": ', '{"delta": " b"}', 'done:{"finish": "stop"}']


def test_sse_frame_puts_each_line_of_data_on_its_own_data_line():
    assert sse_frame("a\nb", "delta") == b"event: delta\ndata: a\ndata: b\n\n"
    assert sse_frame("") == b"data: \n\n"


# requests and routing --------------------------------------------------------------------------


def test_requests_are_recorded_as_they_reached_the_wire(client, server):
    client.post("/complete?beta=true&v=2", json={"model": "tiny-1", "prompt": "hi",
                                                 "temperature": 0.2},
                headers={"Authorization": "Bearer k", "X-Trace": "t1"})
    [recorded] = server.requests
    assert isinstance(recorded, RecordedRequest)
    assert (recorded.provider, recorded.method, recorded.path) == (
        "tiny", "POST", "/tiny/api/v2/complete")
    assert recorded.query == {"beta": "true", "v": "2"}
    assert recorded.headers["authorization"] == "Bearer k"
    assert recorded.headers["x-trace"] == "t1"
    assert recorded.json == {"model": "tiny-1", "prompt": "hi", "temperature": 0.2}
    assert json.loads(recorded.body) == recorded.json


def test_clear_forgets_requests_and_scripts(client, server):
    server.script("tiny", Reply(text="never used"))
    ask(client)
    server.script("tiny", Reply(text="never used"))
    server.clear()
    assert server.requests == []
    assert server.pending("tiny") == 0


def test_invalid_json_request_body_is_a_400_and_takes_no_reply(client, server):
    server.script("tiny", Reply(text="kept"))
    response = client.post("/complete", content=b'{"prompt": ',
                           headers={"content-type": "application/json"})
    assert response.status_code == 400
    assert "not valid JSON" in response.json()["error"]["message"]
    assert server.pending("tiny") == 1
    assert server.requests[-1].json is None
    assert server.requests[-1].body == b'{"prompt": '


def test_unknown_paths_are_404(client, server):
    for path in ("/tiny/api/v2/nothing", "/nobody/v1/complete", "/", "/tiny/api/complete"):
        response = httpx.post(server.url + path, json={})
        assert response.status_code == 404, path
        assert response.json()["error"]["type"] == "not_found"
    assert [r.provider for r in server.requests] == ["tiny", "", "", "tiny"]


def test_wrong_method_is_a_405(client):
    response = client.get("/complete")
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"


def test_placeholders_match_a_segment_or_the_part_before_a_colon(client):
    response = client.post("/models/gemini-2.0-flash:generateContent?alt=sse", json={})
    assert response.json() == {"model": "gemini-2.0-flash", "query": {"alt": "sse"}}
    assert client.get("/jobs/job-7").text == "job job-7"
    assert client.post("/models/a/b:generateContent", json={}).status_code == 404
    assert client.post("/models/gemini:countTokens", json={}).status_code == 404


def test_compile_path():
    pattern = compile_path("/models/{model}:generateContent")
    found = pattern.fullmatch("/models/gemini-pro:generateContent")
    assert found is not None
    assert found.groupdict() == {"model": "gemini-pro"}
    assert compile_path("/a.b/{x}").fullmatch("/aXb/1") is None  # literals are literal


def test_script_for_an_unknown_provider_is_refused(server):
    with pytest.raises(ValueError, match=r"no provider 'nobody' \(mounted: tiny\)"):
        server.script("nobody", Reply())
    with pytest.raises(ValueError, match="no provider"):
        server.base_url("nobody")


def test_one_provider_cannot_be_mounted_twice():
    fakes = TinyVendor().agentflow_fake_routes() * 2
    with pytest.raises(ValueError, match="two fake emulations of provider 'tiny'"):
        FakeServer(fakes)


# plugins ---------------------------------------------------------------------------------------


def test_from_plugins_mounts_every_plugins_emulation():
    host = tiny_host()
    host.register(OtherVendor())
    server = FakeServer.from_plugins(host)
    assert sorted(server.provider_names) == ["other", "tiny"]
    with server:
        assert server.base_url("other") == server.url + "/other"
        response = httpx.post(server.base_url("other") + "/complete",
                              json={"model": "m", "prompt": "hi"})
        assert response.json()["text"] == "You said: hi"


def test_a_plugin_whose_fake_routes_fail_is_left_out_with_a_warning():
    host = tiny_host()
    host.register(BrokenVendor(), name="broken")
    with pytest.warns(RuntimeWarning, match="plugin 'broken' failed to give its fake routes"):
        server = FakeServer.from_plugins(host)
    assert server.provider_names == ("tiny",)


# running ---------------------------------------------------------------------------------------


def port_is_open(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def test_start_is_fast_and_stop_is_clean():
    server = FakeServer.from_plugins(tiny_host())
    with pytest.raises(RuntimeError, match="not running"):
        server.url  # noqa: B018
    started = time.perf_counter()
    server.start()
    startup = time.perf_counter() - started
    port = httpx.URL(server.url).port
    assert port is not None
    try:
        assert startup < 3  # it listens at once (tens of ms); STARTUP_TIMEOUT is 10 s
        assert server.running
        assert port_is_open(port)
        with pytest.raises(RuntimeError, match="already running"):
            server.start()
        with httpx.Client() as keep_alive:  # an idle keep-alive connection must not hold stop
            assert keep_alive.post(server.base_url("tiny") + "/complete",
                                   json={"model": "m", "prompt": "x"}).status_code == 200
            stopping = time.perf_counter()
            server.stop()
            # Not SHUTDOWN_GRACE (2 s) waiting for the idle connection: a few ms.
            assert time.perf_counter() - stopping < SHUTDOWN_GRACE * 0.75
    finally:
        server.stop()
    assert not server.running
    assert not port_is_open(port)
    assert f"agentflow-fake-server-{port}" not in [t.name for t in threading.enumerate()]
    server.stop()  # stopping twice is harmless


def test_requests_on_a_kept_alive_connection_do_not_wait_for_delayed_acks(client):
    # Without TCP_NODELAY on the server's sockets each answer took ~40 ms here.
    ask(client)
    durations = []
    for _ in range(25):
        started = time.perf_counter()
        ask(client)
        durations.append(time.perf_counter() - started)
    # A delayed ACK makes every answer take 40 ms or more; the quickest of 25 shows whether
    # that happens, however busy the machine (an answer takes about a millisecond).
    assert min(durations) < 0.03, durations


def test_stop_ends_a_response_still_waiting_on_its_delay():
    server = FakeServer.from_plugins(tiny_host()).start()
    server.script("tiny", Reply(delay=30))
    statuses: list[int] = []

    def call() -> None:
        response = httpx.post(server.base_url("tiny") + "/complete",
                              json={"model": "m", "prompt": "x"}, timeout=10)
        statuses.append(response.status_code)

    caller = threading.Thread(target=call)
    caller.start()
    deadline = time.monotonic() + 30  # a guard against a hang
    while not server.requests and time.monotonic() < deadline:
        time.sleep(0.005)  # no event loop here to wait on: poll for the request
    stopping = time.perf_counter()
    server.stop()
    caller.join()
    # Not the 30 s delay, nor SHUTDOWN_GRACE (2 s): a few ms.
    assert time.perf_counter() - stopping < SHUTDOWN_GRACE * 0.75
    assert statuses == [503]


def test_a_client_that_gives_up_ends_the_delayed_response(client, server):
    server.script("tiny", Reply(text="too late", delay=30))
    with pytest.raises(httpx.ReadTimeout):
        client.post("/complete", json={"model": "m", "prompt": "x"}, timeout=0.1)
    assert ask(client).json()["text"] == "You said: hello there"


def test_the_server_can_start_again_after_stopping():
    server = FakeServer.from_plugins(tiny_host())
    for _ in range(2):
        with server, httpx.Client(base_url=server.base_url("tiny")) as http:
            server.script("tiny", Reply(text="waited", delay=0.01))
            assert ask(http).json()["text"] == "waited"
    assert len(server.requests) == 2


def test_importing_the_testing_package_and_pytest_plugin_stays_light():
    code = ("import sys, agentflow.testing, agentflow.testing.pytest_plugin; "
            "from agentflow.testing import Reply, FakeProvider; "
            "print(','.join(m for m in ('uvicorn', 'anyio', 'httpx', 'agentflow.testing.server',"
            " 'agentflow._runtime.runtime') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True)
    assert result.stdout.strip() == ""


def test_the_server_runs_as_a_program_until_stdin_closes():
    process = subprocess.Popen(
        [sys.executable, "-m", "agentflow.testing.server", "--port", "0", "--print-url"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "AGENTFLOW_LOAD_PLUGINS": ""})
    try:
        assert process.stdout is not None
        assert process.stdin is not None
        url = process.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:")
        assert httpx.get(url + "/nobody").status_code == 404
        process.stdin.close()
        assert process.wait(timeout=10) == 0
        assert process.stderr is not None
        assert "agentflow fake provider server on " + url in process.stderr.read()
    finally:
        process.kill()
        process.wait()
        for stream_ in (process.stdout, process.stderr):
            if stream_ is not None:
                stream_.close()


# async clients, under asyncio and trio ---------------------------------------------------------


@pytest.mark.anyio
async def test_async_client_streams_and_sees_the_same_cut(server):
    server.clear()
    server.script("tiny", Reply(text="a b c"), Reply(text="a b c", cut_after=2))
    async with httpx.AsyncClient(base_url=server.base_url("tiny")) as http:
        async with http.stream("POST", "/stream", json={"model": "m", "prompt": "x"}) as response:
            whole = [line async for line in response.aiter_lines() if line.startswith("data:")]
        assert len(whole) == 4
        got: list[str] = []

        async def read_data_lines(response: httpx.Response) -> None:
            async for line in response.aiter_lines():
                if line.startswith("data:"):
                    got.append(line)

        async with http.stream("POST", "/stream", json={"model": "m", "prompt": "x"}) as response:
            with pytest.raises(httpx.RemoteProtocolError, match="incomplete chunked read"):
                await read_data_lines(response)
        assert got == whole[:2]


@pytest.mark.anyio
async def test_200_concurrent_requests_are_all_answered(server):
    server.clear()
    answers: dict[int, str] = {}
    limits = httpx.Limits(max_connections=200)
    async with httpx.AsyncClient(base_url=server.base_url("tiny"), limits=limits,
                                 timeout=30) as http:

        async def one(index: int) -> None:
            response = await http.post("/complete", json={"model": "m", "prompt": f"n{index}"})
            answers[index] = response.json()["text"]

        async with anyio.create_task_group() as group:
            for index in range(200):
                group.start_soon(one, index)
    assert answers == {index: f"You said: n{index}" for index in range(200)}
    assert len(server.requests) == 200


# the pytest plugin -----------------------------------------------------------------------------


def test_pytest_fixtures_share_one_server_and_reset_it_per_test(pytester):
    pytester.makeini("[pytest]\nfilterwarnings = error\n")
    pytester.makeconftest(textwrap.dedent("""
        import pytest
        from echo_vendor import EchoVendor
        from agentflow._plugins.host import PluginHost, set_plugin_host

        _previous = []

        def pytest_configure(config):
            host = PluginHost(entry_points=False)
            host.register(EchoVendor())
            _previous.append(set_plugin_host(host))

        def pytest_unconfigure(config):
            set_plugin_host(_previous.pop())

        @pytest.fixture(params=["asyncio", "trio"])
        def anyio_backend(request):
            return request.param
    """))
    pytester.makepyfile(test_user=textwrap.dedent("""
        import httpx
        import pytest
        from agentflow import AgentFlow
        from agentflow.testing import Reply
        from agentflow.testing.pytest_plugin import FAKE_API_KEY_ENV

        seen = []

        def test_first(fake_llm_server):
            fake_llm_server.script("echo", Reply(text="left over"), Reply(text="left over"))
            httpx.post(fake_llm_server.base_url("echo") + "/generate", json={})
            seen.append(fake_llm_server)

        def test_second_starts_clean(fake_llm_server):
            assert fake_llm_server is seen[0]
            assert fake_llm_server.requests == []
            assert fake_llm_server.pending("echo") == 0

        @pytest.mark.anyio
        async def test_agentflow_goes_to_the_fake_server(fake_agentflow, monkeypatch):
            monkeypatch.setenv(FAKE_API_KEY_ENV, "test-key")  # what the echo vendor wants
            fake_agentflow.server.script("echo", Reply(text="offline answer"))
            assert await AgentFlow.model("echo-1").prompt("hi").execute() == "offline answer"
            sent = fake_agentflow.server.requests[-1]
            assert sent.json["model"] == "echo-1-2026"
            assert sent.headers["authorization"] == "Bearer test-key"
            assert AgentFlow.runtime() is fake_agentflow.runtime

        class Marker:
            pass

        @pytest.mark.anyio
        async def test_a_plugin_registered_during_a_test(fake_agentflow):
            # Under asyncio, then trio: the second registration would be refused ("already
            # registered") if the first outlived its test.
            AgentFlow.register_plugin(Marker(), name="mine")
            assert "mine" in fake_agentflow.runtime.host.plugin_names()

        def test_is_gone_after_it():
            from agentflow._plugins.host import get_plugin_host

            assert "mine" not in get_plugin_host().plugin_names()
    """))
    # In file order: the scenario is a first test leaving things behind for the second.
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider", "-p", "no:randomly")
    result.assert_outcomes(passed=7)


@pytest.mark.anyio
async def test_a_test_can_wait_for_requests_to_arrive(server, anyio_backend):
    server.clear()
    server.script("tiny", Reply(text="slow", delay=30))
    async with (httpx.AsyncClient(base_url=server.base_url("tiny")) as client,
                anyio.create_task_group() as calls):
        for prompt in ("one", "two"):
            calls.start_soon(functools.partial(
                client.post, "/complete", json={"model": "m", "prompt": prompt}))
        arrived = await server.wait_for_requests(2, provider="tiny")
        calls.cancel_scope.cancel()  # the first is still waiting on its 30 s delay
    assert sorted(request.json["prompt"] for request in arrived) == ["one", "two"]
    assert await server.wait_for_requests(1) == server.requests  # already there: no wait
    with pytest.raises(TimeoutError):
        await server.wait_for_requests(3, timeout=0.01)  # only a guard against a hang

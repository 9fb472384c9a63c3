"""Every hook agentflow calls, with its reference documentation.

A plugin is a module (or object) with functions named after these specs and marked with
:data:`hookimpl`. Plugins are found through the ``agentflow`` entry-point group and loaded on
first use. Hooks are always called with keyword arguments, so an implementation may accept
only the arguments it needs; new arguments may be added to a spec in later versions.

The kinds of hooks:

* *collect* hooks (``agentflow_register_providers``, ``agentflow_default_models``,
  ``agentflow_fake_routes``, ``agentflow_check_settings``) are called on every plugin and
  their lists are concatenated;
* *first-result* hooks (``agentflow_build_request``, ``agentflow_parse_response``,
  ``agentflow_parse_stream_event``, ``agentflow_map_error``, ``agentflow_check_provider``) take
  a ``vendor`` name (the provider name a plugin declared, which configuration entries name in
  ``vendor:``) and are answered by the plugin that owns that vendor: every other plugin
  returns ``None``. :class:`agentflow.vendor.VendorPlugin` writes that dispatch once.
  Cross-cutting plugins (redaction, auditing, extra headers) take part by declaring
  ``@hookimpl(wrapper=True)`` on the same hooks;
* *notify* hooks (``agentflow_record_event``, ``agentflow_record_stream_chunk``,
  ``agentflow_configure``) are called on every plugin and return nothing;
  ``agentflow_configure`` is *historic*: a plugin registered later is called at once with the
  configuration in force;
* the *factory* hooks ``agentflow_limit_store`` and ``agentflow_http_transport`` are answered
  by the first plugin that returns something (first-result, with no provider argument);
* the *chain* hook ``agentflow_prepare_request`` is called on every plugin, each handed the
  request as the one before left it.

Every hook is called through pluggy, so pluggy's contract holds for all of them: an
implementation gets only the arguments it names, implementations run in pluggy's order
(``tryfirst``, then the last registered first, then ``trylast``), ``@hookimpl(wrapper=True)``
implementations wrap the call, and ``AGENTFLOW_TRACE_HOOKS=1`` logs every call. docs/hooks.md
says for each hook how it is called.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    import ssl
    from collections.abc import Callable

    import httpx

    from agentflow._observe.events import ExecutionEvent
    from agentflow.config import Config
    from agentflow.errors import ConfigurationError, LLMError
    from agentflow.limitstore import LimitStore
    from agentflow.sse import ServerSentEvent
    from agentflow.testing.fake import FakeProvider
    from agentflow.types import (
        ModelInfo,
        ModelSettings,
        ProviderSpec,
        Request,
        Response,
        StreamChunk,
        StreamState,
    )

PROJECT_NAME = "agentflow"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
#: Mark a plugin's hook implementations with this: ``@hookimpl``.
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


@hookspec
def agentflow_register_providers() -> list[ProviderSpec]:
    """Declare the providers (vendors) this plugin implements.

    :returns: one :class:`~agentflow.types.ProviderSpec` per provider: its name (what
        ``vendor:`` in a config file names), default base URL, API key variable and
        capabilities. Return an empty list if the plugin implements no provider.

    Collect hook: called on every plugin, results concatenated. Two plugins declaring the same
    provider name is a configuration error reported by ``agentflow plugins``.
    """


@hookspec
def agentflow_default_models() -> list[ModelInfo]:
    """Contribute catalog entries, so that these models work without a configuration file.

    :returns: :class:`~agentflow.types.ModelInfo` entries. Configuration files override them:
        model settings > provider settings > defaults > catalog.

    Collect hook: called on every plugin, results concatenated.
    """


@hookspec
def agentflow_prepare_request(request: Request, settings: ModelSettings) -> Request | None:
    """Inspect, rewrite or refuse a provider-neutral request before any vendor plugin sees it.

    Cross-cutting plugins implement this: a prompt guard redacting secrets, a plugin adding
    instructions. It runs once per call (and per fallback model), before the call's events,
    so events and logs see the prepared request too.

    :returns: a replacement :class:`~agentflow.types.Request` (``attrs.evolve(request, ...)``),
        or ``None`` to leave it as it is. Raise a :class:`~agentflow.errors.ValidationError` to
        refuse the request: nothing is sent.

    Chain hook: called on every plugin, each given the request as the one before left it, in
    pluggy's order (``tryfirst`` impls, then the last registered first, then ``trylast`` ones);
    each plugin's call is a pluggy call of its own (traced). A ``wrapper=True`` impl wraps the
    whole chain once: its ``yield`` gives ``[request]``, the chain's result as pluggy's
    one-item list of results, and it may return another one-item list.
    """


@hookspec(firstresult=True)
def agentflow_build_request(
    vendor: str, request: Request, settings: ModelSettings
) -> httpx.Request | None:
    """Turn a provider-neutral request into the vendor's HTTP request.

    :param vendor: the vendor name (``settings.vendor``, what ``agentflow_register_providers``
        declared), not the configuration entry. Return ``None`` if it is not yours.
    :param request: the merged request: vendor model id, messages and parameters.
    :param settings: the resolved model settings: base URL, API key (a
        :class:`~agentflow.types.Secret`), vendor options.
    :returns: an ``httpx.Request`` (method, URL, headers including authentication, JSON body).
        For ``request.stream`` the vendor's streaming form (SSE).

    First-result hook.
    """


@hookspec(firstresult=True)
def agentflow_parse_response(
    vendor: str, response: httpx.Response, request: Request
) -> Response | None:
    """Turn the vendor's successful (2xx) non-streaming answer into a :class:`Response`.

    :param vendor: the vendor name. Return ``None`` if it is not yours.
    :param response: the HTTP response, body already read.
    :param request: the request that produced it.
    :returns: the text, normalised finish reason (with the raw one kept), usage, the
        vendor's request id and the tool calls asked for (``finish_reason="tool_calls"``). With
        ``request.output_schema`` set, the text is the structured answer's JSON, however the
        vendor delivered it; the core parses it. Raise
        :class:`~agentflow.errors.ProviderError` for a body that cannot be understood.

    First-result hook.
    """


@hookspec(firstresult=True)
def agentflow_parse_stream_event(
    vendor: str, event: ServerSentEvent, state: StreamState
) -> list[StreamChunk] | None:
    """Turn one server-sent event of a streaming answer into stream chunks.

    :param vendor: the vendor name. Return ``None`` if it is not yours.
    :param event: the decoded SSE event (``event``, ``data``, ``id``).
    :param state: per-stream scratch space; keep what later events need in ``state.data``.
        Feed tool calls to ``state.tool_calls`` (``begin``/``append`` for argument fragments,
        ``add`` for whole calls): the core assembles them onto the final chunk.
        ``state.request`` is the request being answered.
    :returns: zero or more chunks. Exactly one chunk of the stream must have ``is_final`` set,
        carrying the finish reason and usage; the core stops reading after it. A stream that ends
        without a final chunk is reported as cut off, unless ``state.end_chunk`` was set (the
        final chunk as things stand once the finish reason arrived): a clean end of body then
        ends the stream with it. Raise an :class:`~agentflow.errors.LLMError`
        for an error event the vendor sends mid-stream.

    First-result hook. Called once per event, so keep it cheap.
    """


@hookspec(firstresult=True)
def agentflow_map_error(vendor: str, response: httpx.Response) -> LLMError | None:
    """Turn the vendor's HTTP error answer (status >= 400) into the most specific error.

    :param vendor: the vendor name. Return ``None`` if it is not yours.
    :param response: the error response, body already read.
    :returns: an :class:`~agentflow.errors.LLMError` (usually ``HttpError`` or
        ``RateLimitError``) whose message carries the vendor's own words. The core fills in
        provider, model and request id where the plugin left them unset. If no plugin answers,
        the core maps the status itself.

    First-result hook.
    """


@hookspec(firstresult=True)
def agentflow_check_provider(vendor: str, settings: ModelSettings) -> httpx.Request | None:
    """Give the cheapest authenticated request of the vendor's API, for health checks.

    :param vendor: the vendor name (``settings.vendor``, what ``agentflow_register_providers``
        declared), not the configuration entry. Return ``None`` if it is not yours.
    :param settings: the provider's settings without a model (``name`` and ``model_id`` are
        empty): base URL, API key (a :class:`~agentflow.types.Secret`, or ``None`` when the
        vendor's key is optional and unset), vendor options.
    :returns: an ``httpx.Request`` that proves the key and the endpoint work and costs no
        tokens, usually listing models (``GET {base_url}/models``) with the key sent the way
        requests send it. ``agentflow doctor`` and ``AgentFlow.check_providers()`` send it
        through the provider's pooled client with a time limit, and read the answer: a 2xx
        with a JSON body is healthy; 401, 403 and 400 (how Gemini refuses a key) mean the key
        was rejected; any other status is reported with the vendor's words from
        ``agentflow_map_error``.

    First-result hook. A plugin without it is reported as ``unsupported`` (not checked).
    """


@hookspec(historic=True)
def agentflow_configure(config: Config) -> None:
    """Be told that ``config`` became the active configuration (a load or a reload).

    Plugins with settings read their section, ``config.plugins.get("<name>", {})``, here:
    an exporter's port, a guard's patterns. Raise :class:`~agentflow.errors.ConfigurationError`
    naming ``plugins.<name>.<key>`` for a setting you cannot use: the configuration is then
    refused (a reload keeps the previous one, and every plugin is configured with it again).
    ``raise config.setting_error(("plugins", "<name>", "<key>"), "what is wrong")`` gives that
    error the line and column of the setting in the file.

    Notify hook, historic (as pytest's ``pytest_configure``): called on every plugin, before
    the configuration takes effect, once per load or reload; a plugin registered later
    (``AgentFlow.register_plugin``) is called at once with the configuration in force, and
    is refused (not registered) if it raises.
    """


@hookspec
def agentflow_check_settings(config: Config) -> list[ConfigurationError]:
    """Check your section of ``config`` without applying it, for ``agentflow validate``.

    Return a :class:`~agentflow.errors.ConfigurationError` for each setting of
    ``plugins.<name>`` you cannot use (``config.setting_error(("plugins", "<name>", "<key>"),
    "what is wrong")`` locates it in the file), an empty list if all is well. Do exactly the
    checks ``agentflow_configure`` would make, with none of its effects: no server started, no
    connection opened, nothing of the active configuration changed (parse the section with
    the same function both hooks call).

    Collect hook: every plugin answers; the errors of all are reported together, each with
    its line and column. A plugin that does not implement it is checked only when the
    configuration loads.
    """


@hookspec(firstresult=True)
def agentflow_limit_store(config: Config, emit: Callable[[ExecutionEvent], None]
                          ) -> LimitStore | None:
    """Keep the state of rate limits and circuit breakers outside this process's memory.

    :param config: the configuration becoming active (after ``agentflow_configure``); read
        your settings from ``config.plugins``.
    :param emit: delivers an :class:`~agentflow.ExecutionEvent` to the collectors and
        exporters, for what the store wants known (a fallback, a recovery).
    :returns: a :class:`~agentflow.limitstore.LimitStore`, or ``None`` to leave the state in
        this process. The core then runs its limiters and breakers over the store: every step
        (reserve, settle, lease a slot, pause after a 429, a circuit's admission and outcome)
        is one call of the store, from any event loop of the process. Return the same store
        for an unchanged configuration, so that a reload keeps its connections and state.

    First-result hook (called once per configuration that becomes active).
    """


@hookspec(firstresult=True)
def agentflow_http_transport(settings: ModelSettings, ssl_context: ssl.SSLContext,
                             limits: httpx.Limits) -> httpx.AsyncBaseTransport | None:
    """Carry a provider's HTTP requests over another HTTP stack (aiohttp, say).

    Called once per new connection pool (one per provider, event loop and TLS settings) of a
    provider whose configuration names a transport other than httpx's own
    (``transport: aiohttp`` in ``defaults`` or the provider entry; ``settings.transport``).
    Return ``None`` unless ``settings.transport`` is the name you provide.

    :param settings: the settings of the model that needed the pool: ``transport``,
        ``trust_env`` (use proxies from the environment only when it is true) and the rest.
    :param ssl_context: the verifying TLS context to use for every connection (built from
        ``ca_bundle``; for a plain-http base URL, one that refuses every TLS handshake). Never
        weaken it.
    :param limits: the pool's limits (``max_connections``, ``max_keepalive_connections``,
        ``keepalive_expiry``): respect them.
    :returns: an ``httpx.AsyncBaseTransport``, owned and closed by the pool. It must keep
        agentflow's promises as httpx's own transport does: honour the ``timeout`` request
        extension (connect, read, write, pool) raising httpx's timeout exceptions, raise
        httpx's exceptions for every failure (``httpx.ConnectError``, ``httpx.ReadError``,
        ``httpx.RemoteProtocolError``, ...), follow no redirect, hand the body back undecoded
        as it arrives, and give its connection back when the response is closed, cancelled
        or not. A transport that cannot run under the running event loop (aiohttp under trio)
        returns httpx's own transport and says so. ``None`` from every plugin for a transport
        the configuration names is a :class:`~agentflow.errors.ConfigurationError`.

    First-result hook.
    """


@hookspec
def agentflow_record_event(event: ExecutionEvent) -> None:
    """Be told about every execution event (request start, completion, error, stream end ...)
    but the per-chunk ``llm.stream.chunk`` ones (see :func:`agentflow_record_stream_chunk`).

    Metrics exporters implement this. The end events carry what a stream's chunks tell:
    ``llm.stream.complete`` has the chunk count, the time to the first token and the gaps
    between chunks (mean and longest), so an exporter needs no event per chunk.

    Notify hook, each plugin called on its own (a pluggy call per plugin, wrappers around each):
    an exception raised here is logged once per plugin and otherwise ignored, so an exporter
    can never break a request nor keep the others from the event.
    """


@hookspec
def agentflow_record_stream_chunk(event: ExecutionEvent) -> None:
    """Be told about every chunk of every stream (``llm.stream.chunk`` events).

    Implementing this hook is how a plugin says it wants an event per chunk: as long as no
    plugin implements it (and no attached collector asks for them), streams build no event per
    chunk at all. Only implement it if you need each chunk; it runs thousands of times per
    stream, so keep it cheap.

    Notify hook, called like :func:`agentflow_record_event` (each plugin on its own, a failure
    logged once and ignored).
    """


@hookspec
def agentflow_fake_routes() -> list[FakeProvider]:
    """Contribute an emulation of your vendor's HTTP API to the fake provider server.

    :returns: :class:`~agentflow.testing.FakeProvider` entries: the provider name, the path
        prefix its base URL has, and the routes that answer like the vendor does. The fake server
        (``agentflow demo``, the ``fake_llm_server`` pytest fixture) mounts them under
        ``/<provider>``.

    Collect hook: called on every plugin, results concatenated.
    """

"""Azure OpenAI: OpenAI's formats at an Azure resource (see docs/vendors/azure-openai.md).

References: https://learn.microsoft.com/en-us/azure/ai-foundry/openai/reference (the
deployment URLs and ``api-version``), https://learn.microsoft.com/en-us/azure/ai-foundry/openai/api-version-lifecycle
(the v1 endpoint) and https://learn.microsoft.com/en-us/azure/ai-foundry/openai/concepts/content-filter
(content-filter errors).

Two URL shapes, told apart by ``base_url``:

* the resource's endpoint (``https://<resource>.openai.azure.com``, with or without
  ``/openai``): Chat Completions at ``/openai/deployments/<model_id>/chat/completions`` and
  the Responses API at ``/openai/responses``, each with ``?api-version=`` (the model option
  ``api_version``, else the one in ``base_url``'s query, else :data:`DEFAULT_API_VERSION` /
  :data:`DEFAULT_RESPONSES_API_VERSION`); ``model_id`` is the deployment's name;
* the v1 endpoint (``base_url`` ending in ``/openai/v1``): ``/chat/completions`` and
  ``/responses`` under it, the deployment named in the body's ``model``, no ``api-version``.

The key goes in the ``api-key`` header; with the model option ``auth: bearer`` (or a key that
is a JSON Web Token, as Microsoft Entra ID tokens are) it goes as ``Authorization: Bearer``.
Never in the URL. Errors are OpenAI's shape plus Azure's: a ``code`` such as
``content_filter`` with ``innererror.code`` ``ResponsibleAIPolicyViolation`` and the categories
that fired in ``innererror.content_filter_result``, and the ``x-ms-error-code`` header.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import attrs

from agentflow.errors import ConfigurationError
from agentflow.vendor import ErrorBody, read_error_body
from agentflow_openai._errors import error_fields, error_from_status
from agentflow_openai.chat import Dialect, EventLike
from agentflow_openai.responses import (
    ResponsesCodec,
    api_of,
    is_responses_answer,
    is_responses_event,
)
from agentflow_openai.responses import build_request as responses_request

if TYPE_CHECKING:
    import httpx

    from agentflow.errors import LLMError
    from agentflow.types import ModelSettings, Request, Response, StreamChunk, StreamState

__all__ = ["DEFAULT_API_VERSION", "DEFAULT_RESPONSES_API_VERSION", "AzureCodec", "azure_urls",
           "content_filter_reasons"]

#: The latest generally available data-plane version (Chat Completions by deployment).
DEFAULT_API_VERSION = "2024-10-21"
#: The Responses API at a deployment-style endpoint is in preview versions only.
DEFAULT_RESPONSES_API_VERSION = "2025-04-01-preview"
_JWT = re.compile(r"eyJ[\w-]+\.[\w-]+\.[\w-]*")
_AUTH = ("api_key", "bearer")
#: The host of the default base URL, which stands for the user's own resource.
_PLACEHOLDER = "your-resource.openai.azure.com"


@attrs.frozen(kw_only=True)
class AzureUrls:
    """Where a model's requests go."""

    chat: str
    responses: str
    models: str


def azure_urls(settings: ModelSettings) -> AzureUrls:
    """The URLs for ``settings``: by deployment, or under the v1 endpoint."""
    parts = urlsplit(settings.base_url)
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    path = parts.path.rstrip("/")

    def url(at: str, extra: Mapping[str, str]) -> str:
        return urlunsplit((parts.scheme, parts.netloc, at, urlencode({**query, **extra}), ""))

    if path.endswith("/openai/v1"):
        return AzureUrls(chat=url(f"{path}/chat/completions", {}),
                         responses=url(f"{path}/responses", {}), models=url(f"{path}/models", {}))
    root = path.removesuffix("/openai")
    option = settings.options.get("api_version")
    chat_version = option or query.get("api-version") or DEFAULT_API_VERSION
    responses_version = option or query.get("api-version") or DEFAULT_RESPONSES_API_VERSION
    deployment = settings.model_id
    return AzureUrls(
        chat=url(f"{root}/openai/deployments/{deployment}/chat/completions",
                 {"api-version": str(chat_version)}),
        responses=url(f"{root}/openai/responses", {"api-version": str(responses_version)}),
        models=url(f"{root}/openai/models", {"api-version": str(chat_version)}))


def _auth_header(settings: ModelSettings) -> dict[str, str]:
    key = settings.api_key.reveal() if settings.api_key is not None else ""
    if not key:
        return {}
    auth = settings.options.get("auth")
    if auth is not None and auth not in _AUTH:
        raise ConfigurationError(f"the option auth of model {settings.name!r} must be 'api_key' "
                                 f"or 'bearer', got {auth!r}")
    if auth == "bearer" or (auth is None and _JWT.fullmatch(key)):
        return {"authorization": f"Bearer {key}"}
    return {"api-key": key}


def _rebuilt(request: httpx.Request, url: str, settings: ModelSettings) -> httpx.Request:
    import httpx

    headers = {k: v for k, v in request.headers.items()
               if k.lower() not in ("authorization", "content-length", "host")}
    return httpx.Request(request.method, url, headers={**headers, **_auth_header(settings)},
                         content=request.content)


def content_filter_reasons(inner: Any) -> list[str]:
    """The categories that fired, ``hate (high)``, in a ``content_filter_result(s)`` object."""
    reasons: list[str] = []
    results = inner if isinstance(inner, Mapping) else {}
    for name, verdict in results.items():
        if isinstance(verdict, Mapping) and (verdict.get("filtered") or verdict.get("detected")):
            severity = verdict.get("severity")
            reasons.append(f"{name} ({severity})" if isinstance(severity, str) else name)
    return reasons


def azure_error_fields(body: Any) -> ErrorBody | None:
    """OpenAI's error fields, with Azure's ``innererror`` (its code, and the content-filter
    categories that fired, added to the message)."""
    found = error_fields(body)
    if found is None:
        return None
    error: dict[str, Any] = body["error"] if isinstance(body.get("error"), dict) else {}
    inner: dict[str, Any] = error["innererror"] if isinstance(error.get("innererror"),
                                                              dict) else {}
    reasons = content_filter_reasons(inner.get("content_filter_result")
                                     or inner.get("content_filter_results"))
    code = error.get("code")
    kind = found.type or (code if isinstance(code, str) and not code.isdigit() else None)
    message = found.message
    if reasons:
        message = f"{message} (content filter: {', '.join(reasons)})"
    return attrs.evolve(found, message=message, type=kind,
                        code=inner.get("code") if isinstance(inner.get("code"), str)
                        else found.code)


@attrs.frozen
class AzureCodec:
    """The ``azure_openai`` vendor: Chat Completions or the Responses API (the model option
    ``api``), at Azure's URLs, with Azure's authentication and error shapes."""

    dialect: Dialect

    def build_request(self, request: Request, settings: ModelSettings) -> httpx.Request:
        if urlsplit(settings.base_url).hostname == _PLACEHOLDER:
            raise ConfigurationError(
                f"model {settings.name!r} is served by Azure OpenAI, whose endpoint is your "
                f"resource's: set providers.{settings.provider}.base_url to "
                "https://<resource>.openai.azure.com (or its /openai/v1 endpoint)")
        urls = azure_urls(settings)
        unkeyed = attrs.evolve(settings, api_key=None)
        if api_of(self.dialect, request.model, settings.options) == "responses":
            return _rebuilt(responses_request(self.dialect, request, unkeyed), urls.responses,
                            settings)
        return _rebuilt(self.dialect.build_request(request, unkeyed), urls.chat, settings)

    def parse_response(self, response: httpx.Response, request: Request) -> Response:
        if is_responses_answer(response):
            return ResponsesCodec(self.dialect).parse_response(response, request)
        return self.dialect.parse_response(response, request)

    def parse_stream_event(self, event: EventLike, state: StreamState) -> list[StreamChunk]:
        if is_responses_event(event, state):
            return ResponsesCodec(self.dialect).parse_stream_event(event, state)
        return self.dialect.parse_stream_event(event, state)

    def map_error(self, response: httpx.Response) -> LLMError:
        body = read_error_body(response.content, azure_error_fields)
        header = response.headers.get("x-ms-error-code")
        if header and body.type is None:
            body = attrs.evolve(body, type=header)
        headers = dict(response.headers)
        if "x-request-id" not in headers and "apim-request-id" in headers:
            headers["x-request-id"] = headers["apim-request-id"]
        return error_from_status(self.dialect, response.status_code, body, headers)

    def check_request(self, settings: ModelSettings) -> httpx.Request:
        import httpx

        return httpx.Request("GET", azure_urls(settings).models,
                             headers={"accept": "application/json",
                                      "user-agent": self.dialect.user_agent,
                                      **_auth_header(settings)})

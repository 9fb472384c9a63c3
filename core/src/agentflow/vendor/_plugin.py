"""The base of a vendor plugin: the vendor hooks answered once, for the vendors it declares."""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, Protocol

from agentflow.hookspecs import hookimpl

if TYPE_CHECKING:
    import httpx

    from agentflow.errors import LLMError
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

__all__ = ["Codec", "VendorPlugin"]


class Codec(Protocol):
    """One vendor's wire format, as the vendor hooks need it. A module with these five functions
    is one (``codec=_codec``), and so is an object with these methods."""

    def build_request(self, request: Request, settings: ModelSettings) -> httpx.Request:
        """The vendor's HTTP request for ``request`` (``agentflow_build_request``)."""

    def parse_response(self, response: httpx.Response, request: Request) -> Response:
        """The :class:`~agentflow.types.Response` in a 2xx answer (``agentflow_parse_response``)."""

    def parse_stream_event(self, event: ServerSentEvent,
                           state: StreamState) -> list[StreamChunk]:
        """The chunks in one server-sent event (``agentflow_parse_stream_event``)."""

    def map_error(self, response: httpx.Response) -> LLMError | None:
        """The error for a status of 400 and above (``agentflow_map_error``); ``None`` leaves it
        to the core."""

    def check_request(self, settings: ModelSettings) -> httpx.Request | None:
        """The health check's request (``agentflow_check_provider``); ``None`` for none."""


class VendorPlugin:
    """A vendor plugin: it declares its vendors and answers every vendor hook for them.

    The vendor hooks (``agentflow_build_request``, ``agentflow_parse_response``,
    ``agentflow_parse_stream_event``, ``agentflow_map_error``, ``agentflow_check_provider``)
    are answered by the codec of the vendor named in their ``vendor`` argument, and with
    ``None`` for every vendor this plugin did not declare. The collect hooks give the declared
    providers, the catalog and the fake-server emulation; the last two load on first use::

        PLUGIN = VendorPlugin(
            providers=[ProviderSpec(name="acme", default_base_url="https://api.acme.example/v1",
                                    api_key_env="ACME_API_KEY")],
            codec=_codec,                              # or {"acme": one, "acme_eu": other}
            models="agentflow_acme._catalog:MODELS",   # "module:name", imported when needed
            emulations="agentflow_acme.testing:emulations",
        )

    and the distribution's entry point names the instance: ``acme = "agentflow_acme:PLUGIN"``.
    ``models`` and ``emulations`` name a list (or a function returning one). Subclass to answer
    a hook another way; the instance is what pluggy registers.

    :param providers: the vendors this plugin implements (``agentflow_register_providers``).
    :param codec: the :class:`Codec` of every declared vendor, or one per vendor name.
    :param models: where the catalog is (``agentflow_default_models``).
    :param emulations: where the emulations for the fake server are (``agentflow_fake_routes``);
        keep them in a ``testing`` subpackage that nothing at run time imports.
    """

    def __init__(self, *, providers: Iterable[ProviderSpec], codec: Codec | Mapping[str, Codec],
                 models: str | None = None, emulations: str | None = None) -> None:
        self._providers = tuple(providers)
        #: The vendor names this plugin answers for.
        self.vendors = frozenset(spec.name for spec in self._providers)
        codecs = dict(codec) if isinstance(codec, Mapping) else dict.fromkeys(self.vendors, codec)
        if set(codecs) != self.vendors:
            raise ValueError(f"codecs are given for {sorted(codecs)}, but the plugin declares "
                             f"the vendors {sorted(self.vendors)}: give one for each")
        self._codecs: Mapping[str, Codec] = codecs
        self._models = models
        self._emulations = emulations

    def codec(self, vendor: str) -> Codec | None:
        """The codec of ``vendor``; ``None`` for a vendor this plugin does not declare."""
        return self._codecs.get(vendor)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} for {', '.join(sorted(self.vendors))}>"

    @hookimpl
    def agentflow_register_providers(self) -> list[ProviderSpec]:
        return list(self._providers)

    @hookimpl
    def agentflow_default_models(self) -> list[ModelInfo]:
        return list(_load(self._models)) if self._models else []

    @hookimpl
    def agentflow_fake_routes(self) -> list[FakeProvider]:
        return list(_load(self._emulations)) if self._emulations else []

    @hookimpl
    def agentflow_build_request(self, vendor: str, request: Request,
                                settings: ModelSettings) -> httpx.Request | None:
        codec = self._codecs.get(vendor)
        return None if codec is None else codec.build_request(request, settings)

    @hookimpl
    def agentflow_parse_response(self, vendor: str, response: httpx.Response,
                                 request: Request) -> Response | None:
        codec = self._codecs.get(vendor)
        return None if codec is None else codec.parse_response(response, request)

    @hookimpl
    def agentflow_parse_stream_event(self, vendor: str, event: ServerSentEvent,
                                     state: StreamState) -> list[StreamChunk] | None:
        codec = self._codecs.get(vendor)
        return None if codec is None else codec.parse_stream_event(event, state)

    @hookimpl
    def agentflow_map_error(self, vendor: str, response: httpx.Response) -> LLMError | None:
        codec = self._codecs.get(vendor)
        return None if codec is None else codec.map_error(response)

    @hookimpl
    def agentflow_check_provider(self, vendor: str,
                                 settings: ModelSettings) -> httpx.Request | None:
        codec = self._codecs.get(vendor)
        return None if codec is None else codec.check_request(settings)


def _load(where: str) -> Iterable[Any]:
    """The list ``"module:name"`` names, calling it if it is a function."""
    module, _, name = where.partition(":")
    found = getattr(importlib.import_module(module), name)
    return found() if callable(found) else found  # type: ignore[no-any-return]

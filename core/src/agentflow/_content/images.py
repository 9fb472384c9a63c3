"""Images in user messages: reading their type from their bytes, and checking them before
anything is sent.

:class:`~agentflow.types.ImagePart`'s constructors check what they are given through
:func:`image_fields_from_bytes` and :func:`image_fields_from_url`; :func:`check_images` holds a
request's images against what its vendor accepts (``ProviderSpec.image_media_types``,
``max_image_bytes``, the ``images`` and ``image_urls`` capabilities).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from agentflow.errors import ValidationError

if TYPE_CHECKING:
    from agentflow.types import ImagePart, Message, ProviderSpec

__all__ = ["check_images", "image_fields_from_bytes", "image_fields_from_url", "sniff_media_type"]

_ALIASES = {"image/jpg": "image/jpeg", "image/pjpeg": "image/jpeg", "image/x-png": "image/png"}


def sniff_media_type(data: bytes) -> str | None:
    """The media type the bytes' signature announces: PNG, JPEG, GIF, WebP, HEIC, HEIF, or
    ``None``."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if len(data) >= 12 and data.startswith(b"RIFF") and data[8:12] == b"WEBP":
        return "image/webp"
    if len(data) >= 12 and data[4:8] == b"ftyp":  # ISO media: the brand says which
        brand = data[8:12]
        if brand in (b"heic", b"heix", b"hevc", b"hevx"):
            return "image/heic"
        if brand in (b"mif1", b"msf1", b"heif"):
            return "image/heif"
    return None


def _normalised(media_type: str) -> str:
    kind = media_type.split(";", 1)[0].strip().lower()
    return _ALIASES.get(kind, kind)


def image_fields_from_bytes(data: bytes, media_type: str | None = None, *,
                            where: str | None = None) -> dict[str, Any]:
    """The fields of an :class:`ImagePart` of ``data``; the media type is read from the bytes
    if not given, and a given one must agree with them."""
    what = f"image {where}" if where else "image"
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise ValidationError(f"{what}: expected bytes, got {type(data).__name__}",
                              parameter="image")
    data = bytes(data)
    if not data:
        raise ValidationError(f"{what} is empty", parameter="image")
    found = sniff_media_type(data)
    if media_type is None:
        if found is None:
            raise ValidationError(
                f"{what}: its bytes are not PNG, JPEG, GIF, WebP or HEIC/HEIF; pass "
                "media_type if the vendor takes another kind", parameter="image")
        media_type = found
    media_type = _normalised(media_type)
    if not media_type.startswith("image/"):
        raise ValidationError(f"{what}: media type {media_type!r} is not an image type",
                              parameter="image")
    if found is not None and found != media_type:
        raise ValidationError(f"{what}: its bytes are {found}, not the {media_type} given",
                              parameter="image")
    return {"media_type": media_type, "data": data}


def image_fields_from_url(url: str, media_type: str | None = None) -> dict[str, Any]:
    """The fields of an :class:`ImagePart` for ``url``: an ``https``/``http`` address the
    vendor fetches, or a ``data:`` URL, which is decoded into bytes (every vendor takes
    those)."""
    if not isinstance(url, str):
        raise ValidationError(f"image URL must be a string, got {type(url).__name__}",
                              parameter="image")
    if url.startswith("data:"):
        return _data_url(url, media_type)
    scheme = url.split(":", 1)[0].lower()
    if scheme not in ("https", "http") or "://" not in url:
        raise ValidationError(f"image URL {url[:80]!r} must start with https:// or http:// "
                              "(or be a data: URL)", parameter="image")
    return {"media_type": _normalised(media_type) if media_type else None, "url": url}


def _data_url(url: str, media_type: str | None) -> dict[str, Any]:
    import base64
    import binascii

    header, comma, payload = url[5:].partition(",")
    if not comma or not header.endswith(";base64"):
        raise ValidationError("a data: image URL must be base64: data:<type>;base64,<data>",
                              parameter="image")
    try:
        data = base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise ValidationError("the data: image URL holds invalid base64",
                              parameter="image") from None
    return image_fields_from_bytes(data, media_type or header[: -len(";base64")] or None,
                            where="in the data: URL")


def check_images(messages: Iterable[Message], spec: ProviderSpec, *, provider: str,
                 model: str) -> None:
    """Refuse, before sending, images the vendor ``spec`` cannot take."""
    for index, message in enumerate(messages):
        for image in message.images:
            _check(image, spec, f"messages[{index}]", provider=provider, model=model)


def _check(image: ImagePart, spec: ProviderSpec, where: str, *, provider: str,
           model: str) -> None:
    def refuse(problem: str) -> ValidationError:
        return ValidationError(f"{where}: {problem}", parameter="image", provider=provider,
                               model=model)

    if image.url is not None:
        if "image_urls" not in spec.capabilities:
            raise refuse(f"{spec.name} does not fetch images from URLs; pass the image's bytes "
                         "(ImagePart.from_bytes or from_path)")
    elif "images" not in spec.capabilities:
        raise refuse(f"{spec.name} does not take images")
    if image.media_type is not None and image.media_type not in spec.image_media_types:
        accepted = ", ".join(sorted(spec.image_media_types))
        raise refuse(f"{spec.name} does not take {image.media_type} images (it takes "
                     f"{accepted})")
    limit = spec.max_image_bytes
    if image.data is not None and limit is not None and len(image.data) > limit:
        raise refuse(f"the image is {_size(len(image.data))}, more than the "
                     f"{_size(limit)} {spec.name} takes per image")


def _size(count: int) -> str:
    return f"{count / 1024 ** 2:.1f} MiB" if count >= 1024 ** 2 else f"{count} bytes"

"""Images: media types read from the bytes, URLs, and the checks made before sending."""

from __future__ import annotations

import base64

import pytest

from agentflow._content.images import check_images, sniff_media_type
from agentflow.errors import ValidationError
from agentflow.testing.conformance import PIXEL_PNG
from agentflow.types import ImagePart, Message, ProviderSpec

JPEG = b"\xff\xd8\xff\xe0" + bytes(16)
GIF = b"GIF89a" + bytes(10)
WEBP = b"RIFF\x00\x00\x00\x00WEBPVP8 " + bytes(8)


@pytest.mark.parametrize(("data", "kind"), [
    (PIXEL_PNG, "image/png"), (JPEG, "image/jpeg"), (GIF, "image/gif"), (WEBP, "image/webp"),
    (b"\x00\x00\x00\x18ftypheic" + bytes(8), "image/heic"),
    (b"\x00\x00\x00\x18ftypmif1" + bytes(8), "image/heif"),
    (b"\x00\x00\x00\x18ftypisom" + bytes(8), None),
    (b"%PDF-1.7", None), (b"RIFF1234WAVE", None), (b"", None)])
def test_media_type_is_read_from_the_signature(data: bytes, kind: str | None) -> None:
    assert sniff_media_type(data) == kind


def test_bytes_get_their_media_type() -> None:
    image = ImagePart.from_bytes(PIXEL_PNG)
    assert (image.media_type, image.data, image.url) == ("image/png", PIXEL_PNG, None)
    assert base64.b64decode(image.base64) == PIXEL_PNG
    assert ImagePart.from_bytes(JPEG, "image/jpg").media_type == "image/jpeg"
    assert "bytes" in repr(image)
    assert "iVBOR" not in repr(image)


@pytest.mark.parametrize(("data", "media_type", "message"), [
    (PIXEL_PNG, "image/jpeg", "its bytes are image/png, not the image/jpeg given"),
    (b"not an image", None, "not PNG, JPEG, GIF, WebP or HEIC/HEIF"),
    (b"", "image/png", "empty"),
    (PIXEL_PNG, "text/plain", "not an image type"),
    ("text", "image/png", "expected bytes")])
def test_bad_images_are_refused(data: bytes, media_type: str | None, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        ImagePart.from_bytes(data, media_type)


def test_an_unknown_signature_is_taken_with_an_explicit_type() -> None:
    avif = ImagePart.from_bytes(b"\x00\x00\x00\x18ftypavif", "image/avif")
    assert avif.media_type == "image/avif"


def test_a_file_is_read(tmp_path: object) -> None:
    from pathlib import Path

    path = Path(str(tmp_path)) / "pixel.png"
    path.write_bytes(PIXEL_PNG)
    assert ImagePart.from_path(path).data == PIXEL_PNG


def test_urls() -> None:
    assert ImagePart.from_url("https://example.com/a.png").url == "https://example.com/a.png"
    data_url = "data:image/png;base64," + base64.b64encode(PIXEL_PNG).decode()
    decoded = ImagePart.from_url(data_url)
    assert (decoded.data, decoded.url, decoded.media_type) == (PIXEL_PNG, None, "image/png")
    for bad, message in (("ftp://x/a.png", "https://"), ("data:image/png,abc", "base64"),
                         ("data:image/png;base64,@@@", "invalid base64")):
        with pytest.raises(ValidationError, match=message):
            ImagePart.from_url(bad)


def _spec(*capabilities: str, limit: int | None = None) -> ProviderSpec:
    return ProviderSpec(name="acme", default_base_url="https://acme.invalid", api_key_env=None,
                        capabilities=frozenset(capabilities), max_image_bytes=limit)


def test_vendor_limits_are_checked() -> None:
    messages = [Message.user("hi"), Message.user("look", ImagePart.from_bytes(PIXEL_PNG))]
    check_images(messages, _spec("images", limit=len(PIXEL_PNG)), provider="p", model="m")
    cases = [
        (_spec(), "does not take images"),
        (_spec("images", limit=10), "more than the 10 bytes acme takes"),
    ]
    for spec, message in cases:
        with pytest.raises(ValidationError, match=message) as caught:
            check_images(messages, spec, provider="p", model="m")
        assert "messages[1]" in str(caught.value)
    gif = [Message.user("x", ImagePart.from_bytes(GIF))]
    narrow = ProviderSpec(name="acme", default_base_url="https://a.invalid", api_key_env=None,
                          capabilities=frozenset({"images"}),
                          image_media_types=frozenset({"image/png"}))
    with pytest.raises(ValidationError, match="does not take image/gif images"):
        check_images(gif, narrow, provider="p", model="m")
    url = [Message.user("x", ImagePart.from_url("https://e.com/a.png"))]
    with pytest.raises(ValidationError, match="pass the image's bytes"):
        check_images(url, _spec("images"), provider="p", model="m")
    check_images(url, _spec("images", "image_urls"), provider="p", model="m")


def test_message_parts() -> None:
    image = ImagePart.from_bytes(PIXEL_PNG)
    message = Message.user("What is it?", image)
    assert message.text == "What is it?"
    assert message.images == (image,)
    assert len(message.parts) == 2
    assert Message.user("plain").parts[0].text == "plain"  # type: ignore[union-attr]
    assert Message.user("").parts == ()

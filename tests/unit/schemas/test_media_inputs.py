"""Base64 media that Kling reads is accepted: images at the size and shape limits, every audio format."""

import base64
import io

import pytest
from PIL import Image

from kling_gateway.kling.schemas import parse_create_body

from .cases import URL, VIDEOS, picture


def camera_jpeg() -> str:
    """Return a JPEG carrying a second picture, as phone cameras write (Pillow reads it as MPO)."""
    buffer = io.BytesIO()
    frame = Image.new("RGB", (320, 320), "white")
    frame.save(buffer, "MPO", save_all=True, append_images=[frame])
    return base64.b64encode(buffer.getvalue()).decode()


@pytest.mark.parametrize(
    "image",
    [picture(300, 300), picture(750, 300), picture(300, 750, "JPEG"), camera_jpeg()],
    ids=["smallest", "widest", "tallest-jpeg", "camera-jpeg"],
)
def test_an_image_within_the_limits_is_accepted(image: str) -> None:
    parsed = parse_create_body(VIDEOS, "image2video", {"image": image})

    assert parsed.model_dump()["image"] == image


@pytest.mark.parametrize(
    "head",
    [b"ID3\x04\x00", b"\xff\xfb\x90\x64", b"\xff\xf1\x50\x80", b"\0\0\0\x20ftypM4A ", b"RIFF\0\0\0\0WAVEfmt "],
    ids=["mp3-id3", "mp3-frame", "aac-adts", "m4a", "wav"],
)
def test_audio_in_a_format_kling_reads_is_accepted(head: bytes) -> None:
    sound = base64.b64encode(head + bytes(64)).decode()

    parsed = parse_create_body(VIDEOS, "avatar/image2video", {"image": URL, "sound_file": sound})

    assert parsed.model_dump()["sound_file"] == sound

"""The files behind sandbox result URLs: real MP4 clips and PNG images that players and decoders accept."""

from __future__ import annotations

import io
import struct
import wave
import zlib
from collections.abc import Iterator
from functools import cache
from importlib import resources

CLIP_SECONDS = range(3, 16)  # the shipped clips are 3 s to 15 s long, 24 fps, 320x180

_IMAGE_LONG_SIDE_PX = 160
_WAV_RATE_HZ = 8000  # mono 16-bit: small files that every player opens
_MP3_RATE_HZ = 44_100
_MP3_SAMPLES_PER_FRAME = 1152
# MPEG-1 Layer III, no CRC, 32 kbps, 44.1 kHz, no padding, mono: 144 * 32000 / 44100 = 104 bytes a frame. A frame
# whose side information is all zeros holds no audio data: it decodes as silence.
_MP3_FRAME_HEADER = bytes((0xFF, 0xFB, 0x10, 0xC0))
_MP3_FRAME_BYTES = 104
_PALETTE = (
    (230, 120, 40),
    (40, 150, 230),
    (90, 200, 110),
    (220, 70, 120),
    (240, 200, 60),
    (140, 90, 220),
    (60, 200, 200),
    (200, 200, 200),
    (120, 60, 30),
    (30, 30, 30),
)


_FREE_BOX_HEADER_BYTES = 8  # a 32-bit size, then the type `free`
_PADDING_CHUNK = bytes(1 << 20)


def padded_video(clip: bytes, padding_mb: int) -> tuple[int, Iterator[bytes]]:
    """Follow a clip with a `free` box of `padding_mb` MiB (ISO/IEC 14496-12 §8.1.2: its content is ignored);
    return the file's length and its bytes a MiB at a time, so that a large file is never held whole."""
    box_bytes = _FREE_BOX_HEADER_BYTES + padding_mb * len(_PADDING_CHUNK)

    def chunks() -> Iterator[bytes]:
        yield clip + struct.pack(">I", box_bytes) + b"free"
        for _ in range(padding_mb):
            yield _PADDING_CHUNK

    return len(clip) + box_bytes, chunks()


def clip_seconds_for(duration_s: float) -> int:
    """Pick the shipped clip length closest to a requested duration."""
    return min(CLIP_SECONDS, key=lambda seconds: abs(seconds - duration_s))


@cache
def video_clip(seconds: int) -> bytes:
    """Return the bytes of the shipped clip of that many seconds."""
    if seconds not in CLIP_SECONDS:
        raise ValueError(f"no shipped clip of {seconds} s")
    return resources.files("kling_gateway.sandbox").joinpath(f"assets/clip_{seconds}s.mp4").read_bytes()


def image_size(aspect_ratio: str | None) -> tuple[int, int]:
    """Return a small width and height with the requested aspect ratio (e.g. "16:9")."""
    across, down = (int(part) for part in (aspect_ratio or "1:1").split(":"))
    if across >= down:
        return _IMAGE_LONG_SIDE_PX, max(1, _IMAGE_LONG_SIDE_PX * down // across)
    return max(1, _IMAGE_LONG_SIDE_PX * across // down), _IMAGE_LONG_SIDE_PX


@cache
def png_image(width: int, height: int, index: int) -> bytes:
    """Encode a solid-colour RGB PNG, its colour picked by the image's index in the task."""
    red, green, blue = _PALETTE[index % len(_PALETTE)]
    row = b"\x00" + bytes((red, green, blue)) * width  # filter type 0, then the pixels
    raw = row * height
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", zlib.compress(raw)) + _chunk(b"IEND", b"")


@cache
def wav_audio(seconds: float) -> bytes:
    """Encode that many seconds of silence as a WAV file."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as track:
        track.setnchannels(1)
        track.setsampwidth(2)
        track.setframerate(_WAV_RATE_HZ)
        track.writeframes(b"\0\0" * round(seconds * _WAV_RATE_HZ))
    return buffer.getvalue()


@cache
def mp3_audio(seconds: float) -> bytes:
    """Encode that many seconds of silence as an MP3 file: valid MPEG-1 Layer III frames, no dependency needed."""
    frames = max(1, round(seconds * _MP3_RATE_HZ / _MP3_SAMPLES_PER_FRAME))
    return (_MP3_FRAME_HEADER + bytes(_MP3_FRAME_BYTES - len(_MP3_FRAME_HEADER))) * frames


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

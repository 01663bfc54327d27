"""What Kling takes inside Base64 media: the format, size and shape of images and the format of audio (§2.2)."""

import io

from PIL import Image

IMAGE_FORMATS = "JPEG and PNG"
# Pillow names a JPEG carrying extra pictures (as many phone cameras write) MPO; it is still a .jpg file.
READABLE_IMAGE_FORMATS = frozenset({"JPEG", "MPO", "PNG"})
IMAGE_MIN_SIDE_PX = 300
IMAGE_MAX_ASPECT = 2.5
AUDIO_FORMATS = "mp3, wav, m4a or aac"


def image_problem(data: bytes, sent_as: str) -> str | None:
    """Say why Kling would refuse these image bytes, or None when it takes them; sent_as says how to send one."""
    try:
        # open() reads the header only; the pixels are never decoded.
        with Image.open(io.BytesIO(data)) as picture:
            kind, (width, height) = picture.format, picture.size
    except Image.DecompressionBombError:
        return f"is an image of over {2 * (Image.MAX_IMAGE_PIXELS or 0):,} pixels; send a smaller JPEG or PNG"
    except (OSError, ValueError):  # UnidentifiedImageError is an OSError
        return f"is not an image Kling can read (send JPEG or PNG, {sent_as})"
    if kind not in READABLE_IMAGE_FORMATS:
        return f"is {kind} data; allowed formats are {IMAGE_FORMATS}"
    if min(width, height) < IMAGE_MIN_SIDE_PX:
        return f"is {width}×{height} px; width and height must be at least {IMAGE_MIN_SIDE_PX} px"
    if max(width, height) > IMAGE_MAX_ASPECT * min(width, height):
        return f"is {width}×{height} px; the aspect ratio must be between 1:2.5 and 2.5:1"
    return None


def audio_problem(data: bytes, sent_as: str) -> str | None:
    """Say why Kling would refuse these audio bytes, or None when they are mp3, wav, m4a or aac."""
    mp3_tagged = data.startswith(b"ID3")
    # 11 set bits open an MPEG audio frame (mp3); ADTS (raw aac) has 12, so one test covers both.
    frame_sync = len(data) >= 2 and data[0] == 0xFF and data[1] & 0xE0 == 0xE0
    wav = data[:4] == b"RIFF" and data[8:12] == b"WAVE"
    m4a = data[4:8] == b"ftyp"
    if mp3_tagged or frame_sync or wav or m4a:
        return None
    return f"is not audio Kling can read (send {AUDIO_FORMATS}, {sent_as})"

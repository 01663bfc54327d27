"""Regenerate the sandbox's sample clips (src/kling_gateway/sandbox/assets/clip_<N>s.mp4).

Needs `pip install av numpy`. Each clip is a small valid H.264 MP4 at 24 fps: an orange block crossing a dark
frame, so a player shows motion and a decoder sees every frame.
"""

from pathlib import Path

import av
import numpy as np

ASSETS = Path(__file__).resolve().parent.parent / "src" / "kling_gateway" / "sandbox" / "assets"


def make_clip(path: Path, seconds: int, fps: int = 24, width: int = 320, height: int = 180) -> None:
    """Encode one clip of the given length."""
    with av.open(str(path), "w", format="mp4", options={"movflags": "faststart"}) as out:
        stream = out.add_stream("libx264", rate=fps, options={"crf": "40", "preset": "veryslow"})
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        frames = seconds * fps
        for index in range(frames):
            image = np.full((height, width, 3), (20, 24, 40), np.uint8)
            x = int(index * (width - 40) / max(frames - 1, 1))
            image[70:110, x : x + 40] = (230, 120, 40)
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)


if __name__ == "__main__":
    for seconds in range(3, 16):
        make_clip(ASSETS / f"clip_{seconds}s.mp4", seconds)

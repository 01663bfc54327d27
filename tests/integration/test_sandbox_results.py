"""Result URLs point at the sandbox and serve real files: MP4 videos and PNG images that decode."""

from __future__ import annotations

import io

import av
import httpx
from PIL import Image

from tests.conftest import SandboxFactory
from tests.helpers import create, finished, finished_video

IMAGES = "/v1/images/generations"


def test_a_video_result_downloads_and_decodes(client: httpx.Client) -> None:
    video = finished_video(client, {"prompt": "a fox", "duration": "10"})
    answer = client.get(video["url"])
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "video/mp4"
    with av.open(io.BytesIO(answer.content), mode="r") as container:
        stream = container.streams.video[0]
        frames = len(list(container.decode(video=0)))
        assert container.duration is not None
        assert stream.average_rate is not None
        assert abs(container.duration / 1e6 - float(video["duration"])) < 0.5
        assert frames == round(float(video["duration"]) * float(stream.average_rate))


def test_a_padded_video_is_as_large_as_asked_and_still_decodes(sandbox_factory: SandboxFactory) -> None:
    sandbox = sandbox_factory(video_padding_mb=3)
    with sandbox.client() as client:
        video = finished_video(client, {"prompt": "a fox", "duration": "5"})
        answer = client.get(video["url"])
    assert int(answer.headers["content-length"]) == len(answer.content) > 3 * 2**20
    with av.open(io.BytesIO(answer.content), mode="r") as container:
        assert container.duration is not None
        assert abs(container.duration / 1e6 - float(video["duration"])) < 0.5
        assert len(list(container.decode(video=0))) > 0


def test_a_watermarked_video_downloads_too(client: httpx.Client) -> None:
    video = finished_video(client, {"prompt": "a fox", "watermark_info": {"enabled": True}})
    answer = client.get(video["watermark_url"])
    assert answer.status_code == 200
    assert answer.content[4:8] == b"ftyp"


def test_watermarked_files_exist_only_when_asked_for(client: httpx.Client) -> None:
    video = finished_video(client, {"prompt": "a fox"})
    assert client.get(video["url"].replace(".mp4", "-watermarked.mp4")).status_code == 404
    image = finished(client, IMAGES, {"prompt": "a fox"})["task_result"]["images"][0]
    assert client.get(image["url"].replace(".png", "-watermarked.png")).status_code == 404


def test_every_image_result_is_a_png_with_the_requested_aspect_ratio(client: httpx.Client) -> None:
    done = finished(client, IMAGES, {"prompt": "a fox", "n": 2, "aspect_ratio": "9:16"})
    images = done["task_result"]["images"]
    assert len(images) == 2
    pictures = []
    for image in images:
        answer = client.get(image["url"])
        assert answer.headers["content-type"] == "image/png"
        picture = Image.open(io.BytesIO(answer.content))
        picture.load()
        pictures.append(picture)
        assert picture.format == "PNG"
        assert abs(picture.width / picture.height - 9 / 16) < 0.02
    assert pictures[0].getpixel((0, 0)) != pictures[1].getpixel((0, 0))


def test_a_try_on_result_is_one_image(client: httpx.Client) -> None:
    body = {"human_image": "https://example.com/h.png", "cloth_image": "https://example.com/c.png"}
    done = finished(client, "/v1/images/kolors-virtual-try-on", body)
    images = done["task_result"]["images"]
    assert [image["index"] for image in images] == [0]
    assert client.get(images[0]["url"]).status_code == 200


def test_files_do_not_exist_before_the_task_succeeds(sandbox_factory: SandboxFactory) -> None:
    sandbox = sandbox_factory(speed=0.01)
    with sandbox.client() as client:
        task_id = create(client, IMAGES, {"prompt": "a fox"})["task_id"]
        task = sandbox.state.tasks.task_by_id(task_id)
        assert task is not None
        image_url = task.result["images"][0]["url"]
        assert client.get(image_url).status_code == 404
        assert client.get(f"{sandbox.url}/files/videos/000.mp4").status_code == 404

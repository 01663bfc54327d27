"""The OpenAI videos API and the new-api route: clients written for them switch by base URL and key alone."""

from __future__ import annotations

import base64
import io
import warnings
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest
from PIL import Image

from kling_gateway.dialects import Dialect
from tests.gateway import GatewayFactory, RunningGateway
from tests.helpers import wait_until

T2V = "/kling/v1/videos/text2video"
I2V = "/kling/v1/videos/image2video"
MP4_BOX = b"ftyp"


@pytest.fixture
def gateway(gateway_factory: GatewayFactory) -> RunningGateway:
    """A gateway on a loopback port: the SDK speaks HTTP with a client library of its own."""
    return gateway_factory(listen=True)


def sdk_for(gateway: RunningGateway, api_key: str) -> openai.OpenAI:
    """The official SDK, pointed at the gateway with a key; no retries, so every error shows."""
    return openai.OpenAI(base_url=f"{gateway.url}/v1", api_key=api_key, max_retries=0)


@pytest.fixture
def sdk(gateway: RunningGateway) -> Iterator[openai.OpenAI]:
    """The official SDK with alice's key."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # the SDK marks its videos client for OpenAI's own model
        client = sdk_for(gateway, gateway.keys["alice"])
        yield client
        client.close()


def _sent(gateway: RunningGateway) -> dict[str, Any]:
    """The body of the one task the sandbox received, as the gateway sent it."""
    (task,) = gateway.sandbox.state.tasks.all_tasks()
    body: dict[str, Any] = task.body.model_dump(by_alias=True, exclude_none=True)
    return body


def _png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (320, 320), (200, 120, 40)).save(buffer, format="PNG")
    return buffer.getvalue()


def test_the_sdk_creates_polls_lists_and_downloads_a_video(sdk: openai.OpenAI, gateway: RunningGateway) -> None:
    video = sdk.videos.create(model="kling-v2-6", prompt="a fox in the snow", seconds="5", size="1920x1080")  # type: ignore[arg-type]
    assert video.object == "video"
    assert video.status == "queued"
    assert video.model == "kling-v2-6"
    assert (video.seconds, video.size) == ("5", "1920x1080")
    paced = sdk.videos.with_raw_response.retrieve(video.id)
    assert paced.headers["openai-poll-after-ms"] == "20"  # the test gateway's poll interval, 0.02 s
    done = sdk.videos.poll(video.id)
    assert done.status == "completed"
    assert done.progress == 100
    assert done.completed_at is not None
    assert done.completed_at >= done.created_at
    listed = sdk.videos.list(limit=10)
    assert [item.id for item in listed.data] == [video.id]
    content = sdk.videos.download_content(video.id)
    assert MP4_BOX in content.content[:16]
    assert content.response.headers["content-type"] == "video/mp4"
    with gateway.client() as client:  # the same task on the Kling route: same ids, same file
        kling = client.get(f"{T2V}/{video.id}").json()["data"]
    assert kling["platform_id"] == video.id
    assert kling["task_status"] == "succeed"
    with gateway.http() as anyone:
        assert anyone.get(kling["task_result"]["videos"][0]["url"]).content == content.content
    mode_and_ratio = _sent(gateway)
    assert (mode_and_ratio["mode"], mode_and_ratio["aspect_ratio"], mode_and_ratio["duration"]) == ("pro", "16:9", "5")


def test_an_uploaded_reference_picture_makes_an_image2video_task(sdk: openai.OpenAI, gateway: RunningGateway) -> None:
    picture = _png()
    video = sdk.videos.create(
        model="kling-v2-6", prompt="the picture comes alive", input_reference=("cat.png", picture, "image/png")
    )
    done = sdk.videos.poll(video.id)
    assert done.status == "completed"
    assert done.size is None  # the frame follows the picture: not known, not invented
    with gateway.client() as client:
        kling = client.get(f"{I2V}/{video.id}").json()["data"]
    assert kling["task_status"] == "succeed"
    sent = _sent(gateway)
    assert sent["model_name"] == "kling-v2-6"
    assert sent["image"] == base64.b64encode(picture).decode()


def test_list_pages_by_cursor_in_both_orders(sdk: openai.OpenAI) -> None:
    ids = [sdk.videos.create(model="kling-v2-6", prompt=f"fox {n}").id for n in range(5)]
    newest = sdk.videos.list(limit=2)
    assert [item.id for item in newest.data] == [ids[4], ids[3]]
    assert newest.has_more
    following = sdk.videos.list(limit=2, after=newest.data[-1].id)
    assert [item.id for item in following.data] == [ids[2], ids[1]]
    oldest = sdk.videos.list(limit=10, order="asc")
    assert [item.id for item in oldest.data] == ids
    assert not oldest.has_more
    assert [item.id for item in sdk.videos.list(limit=2)] == ids[::-1]  # the SDK's auto-paging follows the cursor


def test_the_sdk_sees_clear_errors(sdk: openai.OpenAI, gateway: RunningGateway) -> None:
    with pytest.raises(openai.NotFoundError) as missing:
        sdk.videos.retrieve("video_01JGHS0000000000000000000A")
    assert missing.value.status_code == 404
    assert "was not found" in missing.value.message
    with pytest.raises(openai.BadRequestError) as bad_size:
        sdk.videos.create(model="kling-v2-6", prompt="a fox", size="1024x1792")
    assert "1280x720" in bad_size.value.message
    assert bad_size.value.param == "size"
    with pytest.raises(openai.BadRequestError) as bad_model:
        sdk.videos.create(model="sora-2", prompt="a fox")
    assert "model_name" in bad_model.value.message
    assert "model is model_name" in bad_model.value.message
    assert bad_model.value.param == "model"
    with pytest.raises(openai.BadRequestError) as bad_seconds:
        sdk.videos.create(model="kling-v2-6", prompt="a fox", seconds="8")
    assert "duration" in bad_seconds.value.message
    with pytest.raises(openai.AuthenticationError):
        sdk_for(gateway, "sk-wrong").videos.list()
    assert gateway.admin.task_count() == 0
    assert gateway.admin.money("alice") == (1_000_000_000, 0)


def test_content_of_an_unfinished_video_is_refused(gateway_factory: GatewayFactory) -> None:
    gw = gateway_factory(sandbox={"speed": 1.0})  # real time: the video takes minutes
    with gw.client() as client:
        created = client.post("/v1/videos", json={"prompt": "a fox", "model": "kling-v2-6"}).json()
        early = client.get(f"/v1/videos/{created['id']}/content")
        thumbnail = client.get(f"/v1/videos/{created['id']}/content?variant=thumbnail")
    assert early.status_code == 400
    assert early.json()["error"]["param"] == "video_id"
    assert "once it is completed" in early.json()["error"]["message"]
    assert thumbnail.status_code == 400
    assert thumbnail.json()["error"]["param"] == "variant"


def test_an_oversized_or_wrong_picture_is_refused(gateway: RunningGateway) -> None:
    with gateway.client() as client:
        too_big = client.post(
            "/v1/videos",
            data={"prompt": "a fox"},
            files={"input_reference": ("big.png", b"\x89PNG" + bytes(10 * 1024 * 1024), "image/png")},
        )
        not_a_picture = client.post(
            "/v1/videos", data={"prompt": "a fox"}, files={"input_reference": ("a.txt", b"hello", "text/plain")}
        )
    assert too_big.status_code == 400
    assert "10 MB" in too_big.json()["error"]["message"]
    assert not_a_picture.status_code == 400
    assert "JPEG or PNG" in not_a_picture.json()["error"]["message"]
    assert not_a_picture.json()["error"]["param"] == "input_reference"
    assert gateway.admin.task_count() == 0


def test_operations_kling_has_no_counterpart_for_answer_in_the_openai_shape(
    sdk: openai.OpenAI, gateway: RunningGateway
) -> None:
    video = sdk.videos.create(model="kling-v2-6", prompt="a fox")
    with pytest.raises(openai.NotFoundError) as deleted:
        sdk.videos.delete(video.id)
    assert "not offered" in deleted.value.message
    with pytest.raises(openai.NotFoundError) as remixed:
        sdk.videos.remix(video.id, prompt="a wolf")
    assert "video-extend" in remixed.value.message
    with gateway.client("") as anonymous:
        refused = anonymous.delete(f"/v1/videos/{video.id}")
    assert refused.status_code == 401
    assert refused.json()["error"]["type"] == "authentication_error"
    with gateway.client() as client:  # a Kling action path under /v1/videos/ is still Kling's
        assert client.get("/v1/videos/text2video").json()["code"] == 0


def test_unknown_create_fields_are_refused(gateway: RunningGateway) -> None:
    with gateway.client() as client:
        answer = client.post("/v1/videos", json={"prompt": "a fox", "quality": "hd"})
    assert answer.status_code == 400
    assert answer.json()["error"]["param"] == "quality"
    assert "prompt" in answer.json()["error"]["message"]
    assert gateway.admin.task_count() == 0


# -- the new-api route --------------------------------------------------------------------------------------------


def _generate(client: httpx.Client, body: dict[str, Any]) -> dict[str, Any]:
    answer = client.post("/v1/video/generations", json=body)
    assert answer.status_code == 200, answer.text
    created: dict[str, Any] = answer.json()
    return created


def test_new_api_clients_create_and_query_videos(gateway: RunningGateway) -> None:
    with gateway.client() as client:
        created = _generate(
            client,
            {
                "model": "kling-v2-6",
                "prompt": "宇航员在月球上漫步",
                "duration": 5,
                "width": 1280,
                "height": 720,
                "fps": 30,
                "seed": 7,
                "metadata": {"negative_prompt": "blur", "external_task_id": "moon-1"},
            },
        )
        assert created["id"] == created["task_id"]
        assert created["status"] == "queued"
        wait_until(client, f"{T2V}/{created['id']}")
        done = client.get(f"/v1/video/generations/{created['task_id']}").json()
        by_external = client.get("/v1/video/generations/moon-1").json()
    assert done == by_external
    assert done["status"] == "completed"
    assert done["metadata"] == {"duration": 5.0, "fps": 24, "width": 1280, "height": 720, "seed": None}
    sent = _sent(gateway)
    assert {key: sent[key] for key in ("mode", "aspect_ratio", "duration", "negative_prompt")} == {
        "mode": "std",
        "aspect_ratio": "16:9",
        "duration": "5",
        "negative_prompt": "blur",
    }
    assert "seed" not in sent
    assert "fps" not in sent


def test_new_api_image_requests_become_image2video(gateway: RunningGateway) -> None:
    with gateway.client() as client:
        created = _generate(client, {"model": "kling-v2-6", "prompt": "alive", "image": "https://example.com/cat.png"})
        assert wait_until(client, f"{I2V}/{created['id']}")["task_status"] == "succeed"


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"prompt": "a fox", "width": 1000, "height": 700}, "width"),
        ({"prompt": "a fox", "size": "1280x720", "width": 1280}, "size"),
        ({"prompt": "a fox", "n": 2}, "n"),
        ({"prompt": "a fox", "duration": "five"}, "duration"),
        ({"prompt": "a fox", "style": "anime"}, "style"),
        ({"prompt": "a fox", "metadata": "x"}, "metadata"),
    ],
)
def test_new_api_bad_requests_are_refused_before_anything_is_stored(
    gateway: RunningGateway, body: dict[str, Any], param: str
) -> None:
    with gateway.client() as client:
        answer = client.post("/v1/video/generations", json=body)
    assert answer.status_code == 400, answer.text
    error = answer.json()["error"]
    assert error["param"] == param
    assert error["type"] == "invalid_request_error"
    assert gateway.admin.task_count() == 0
    assert not gateway.sandbox.state.tasks.all_tasks()


def test_unknown_generation_ids_get_the_openai_404(gateway: RunningGateway) -> None:
    with gateway.client() as client:
        answer = client.get("/v1/video/generations/nope", headers={"X-Response-Format": Dialect.TASK.value})
    assert answer.status_code == 404
    assert answer.json()["error"]["code"] == "task_not_exist"


# -- one task, every door ----------------------------------------------------------------------------------------


def test_one_task_reads_the_same_through_every_dialect_and_route(gateway: RunningGateway) -> None:
    with gateway.client() as client:
        platform_id = client.post(T2V, json={"prompt": "a fox", "external_task_id": "fox"}).json()["data"][
            "platform_id"
        ]
        kling = wait_until(client, f"{T2V}/{platform_id}")
        for reference in (platform_id, kling["task_id"], "fox"):
            wrapped = client.get(f"{T2V}/{reference}", headers={"X-Response-Format": "task"}).json()["data"]
            flat = client.get(f"{T2V}/{reference}", headers={"X-Response-Format": "video"}).json()
            job = client.get(f"/v1/videos/{reference}").json()
            generation = client.get(f"/v1/video/generations/{reference}").json()
            url = kling["task_result"]["videos"][0]["url"]
            assert wrapped["task_id"] == flat["task_id"] == job["id"] == generation["task_id"] == platform_id
            assert wrapped["data"]["data"]["task_id"] == kling["task_id"]
            assert (wrapped["status"], flat["status"], job["status"], kling["task_status"]) == (
                "SUCCESS",
                "completed",
                "completed",
                "succeed",
            )
            assert wrapped["data"]["data"]["task_result"]["videos"][0]["url"] == flat["url"] == generation["url"] == url

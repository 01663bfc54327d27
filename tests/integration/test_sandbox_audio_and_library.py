"""The `/v1` products added in 2026 over HTTP: audio, TTS, recognition, elements, voices and angle views, with
real files behind their URLs, the synchronous calls billed at once, retired models and concurrency by model."""

from __future__ import annotations

import io
import wave
from typing import Any

import httpx
from PIL import Image

from tests.conftest import RunningSandbox, SandboxFactory
from tests.helpers import TEXT2VIDEO, SteppedClock, create, error_of, finished, finished_video

TEXT_TO_AUDIO = "/v1/audio/text-to-audio"
VIDEO_TO_AUDIO = "/v1/audio/video-to-audio"
ELEMENTS = "/v1/general/advanced-custom-elements"
VOICES = "/v1/general/custom-voices"
MULTI_SHOT = "/v1/general/ai-multi-shot"
PICTURE = "https://cdn.example.com/in/cat.png"
ELEMENT = {
    "element_name": "Mia",
    "element_description": "A girl in a red coat",
    "reference_type": "image_refer",
    "element_image_list": {"frontal_image": PICTURE, "refer_images": [{"image_url": PICTURE}]},
}
SLOW = 0.01  # tasks take hours: slots stay taken for the whole test


def _download(client: httpx.Client, url: str, content_type: str) -> bytes:
    answer = client.get(url)
    assert answer.status_code == 200, url
    assert answer.headers["content-type"] == content_type
    return answer.content


def _check_audio(client: httpx.Client, item: dict[str, Any], seconds: float) -> None:
    wav = _download(client, item["url_wav"], "audio/wav")
    with wave.open(io.BytesIO(wav)) as track:
        assert abs(track.getnframes() / track.getframerate() - seconds) < 0.01
    mp3 = _download(client, item["url_mp3"], "audio/mpeg")
    assert mp3[0] == 0xFF  # MPEG audio frame sync: 11 set bits
    assert mp3[1] & 0xE0 == 0xE0
    assert (item["duration_mp3"], item["duration_wav"]) == (f"{seconds:.1f}", f"{seconds:.1f}")


def _is_png(content: bytes) -> bool:
    picture = Image.open(io.BytesIO(content))
    picture.load()
    return picture.format == "PNG"


def test_text_to_audio_makes_mp3_and_wav_of_the_asked_length(client: httpx.Client) -> None:
    done = finished(client, TEXT_TO_AUDIO, {"prompt": "rain on a tin roof", "duration": 4.5})
    assert (done["task_status"], done["final_unit_deduction"]) == ("succeed", "0.25")
    (audio,) = done["task_result"]["audios"]
    _check_audio(client, audio, 4.5)


def test_video_to_audio_gives_the_video_and_its_sound(client: httpx.Client) -> None:
    parent = finished_video(client, {"prompt": "a fox", "model_name": "kling-v1-6"})
    done = finished(client, VIDEO_TO_AUDIO, {"video_id": parent["id"], "bgm_prompt": "calm piano", "asmr_mode": True})
    assert done["task_info"]["parent_video"]["id"] == parent["id"]
    (video,), (audio,) = done["task_result"]["videos"], done["task_result"]["audios"]
    assert _download(client, video["url"], "video/mp4")[4:8] == b"ftyp"
    _check_audio(client, audio, float(parent["duration"]))
    status, code, message = error_of(client.post(VIDEO_TO_AUDIO, json={"video_id": "1", "video_url": PICTURE}))
    assert (status, code, message) == (
        400,
        1201,
        "video_id, video_url: give exactly one of these; only one may be given",
    )


def test_text_to_audio_refuses_what_the_reference_refuses(client: httpx.Client) -> None:
    assert error_of(client.post(TEXT_TO_AUDIO, json={"prompt": "x" * 201, "duration": 5}))[2] == (
        "prompt: is 201 characters long; at most 200 are allowed"
    )
    assert error_of(client.post(TEXT_TO_AUDIO, json={"prompt": "rain", "duration": 5.25}))[2] == (
        "duration: must have at most one decimal, such as 5.5 (got 5.25)"
    )
    assert error_of(client.post(TEXT_TO_AUDIO, json={"prompt": "rain", "duration": 10.5}))[2] == (
        "duration: must be between 3 and 10 (got 10.5)"
    )


def test_billed_synchronous_calls_answer_at_once_and_deduct_at_once(client: httpx.Client) -> None:
    answer = client.post("/v1/audio/tts", json={"text": "hello there", "voice_id": "oversea_male1", "voice_speed": 5})
    tts = answer.json()["data"]
    assert (tts["task_status"], tts["final_unit_deduction"]) == ("succeed", "0.05")
    (spoken,) = tts["task_result"]["audios"]
    assert _download(client, spoken["url"], "audio/mpeg")[:2] == b"\xff\xfb"
    assert spoken["duration"] == "1.4"  # 11 characters at the clamped top speed 2.0
    recognized = client.post("/v1/videos/image-recognize", json={"image": PICTURE})
    data = recognized.json()["data"]
    assert data["final_unit_deduction"] == "0.1"
    kinds = [image["type"] for image in data["task_result"]["images"]]
    assert kinds == ["object_seg", "head_seg", "face_seg", "cloth_seg"]
    for image in data["task_result"]["images"]:
        assert isinstance(image["is_contain"], bool)
        if image["is_contain"]:
            assert _is_png(_download(client, image["url"], "image/png"))
    face = client.post("/v1/videos/identify-face", json={"video_url": "https://cdn.example.com/in/talk.mp4"})
    assert face.json()["data"]["final_unit_deduction"] == "0.05"
    assert error_of(client.get("/v1/audio/tts"))[:2] == (404, 1202)
    assert error_of(client.post("/v1/videos/image-recognize", json={"image": "data:image/png;base64,AAAA"}))[2] == (
        'image: has a "data:...;base64," prefix; send an http(s) URL or raw Base64 image data without it'
    )


def test_elements_voices_and_angle_views(client: httpx.Client) -> None:
    voice = finished(client, VOICES, {"voice_name": "Narrator", "voice_url": "https://cdn.example.com/v.mp3"})
    assert voice["final_unit_deduction"] == "0.05"
    (made,) = voice["task_result"]["voices"]
    assert _download(client, made["trial_url"], "audio/mpeg")[:2] == b"\xff\xfb"
    element = finished(client, ELEMENTS, ELEMENT | {"element_voice_id": made["voice_id"]})
    assert element["final_unit_deduction"] == "0"
    (item,) = element["task_result"]["elements"]
    assert (item["status"], item["element_voice_info"]["voice_id"]) == ("succeed", made["voice_id"])
    assert len(str(item["element_id"])) == 15
    assert _is_png(_download(client, item["element_image_list"]["frontal_image"], "image/png"))
    deleted = client.post("/v1/general/delete-advanced-elements", json={"element_id": str(item["element_id"])})
    assert deleted.json()["data"]["task_status"] == "succeed"
    after = client.get(f"{ELEMENTS}/{element['task_id']}").json()["data"]
    assert after["task_result"]["elements"][0]["status"] == "deleted"
    assert client.post("/v1/general/delete-voices", json={"voice_id": made["voice_id"]}).status_code == 200
    assert error_of(client.post("/v1/general/delete-voices", json={"voice_id": made["voice_id"]}))[:2] == (400, 1201)
    views = finished(client, MULTI_SHOT, {"element_frontal_image": PICTURE})
    assert views["final_unit_deduction"] == "20"
    sets = views["task_result"]["images"]
    assert [item["index"] for item in sets] == [0, 1, 2]
    assert all(_is_png(_download(client, one[f"url_{k}"], "image/png")) for one in sets for k in (1, 2, 3))


def test_element_rules_and_presets(client: httpx.Client) -> None:
    video_only = ELEMENT | {"reference_type": "video_refer"}
    assert error_of(client.post(ELEMENTS, json=video_only))[2] == (
        'element_video_list: is required when reference_type is "video_refer"; '
        'element_image_list: is only allowed when reference_type is "image_refer"'
    )
    assert error_of(client.post(ELEMENTS, json=ELEMENT | {"element_voice_id": "123"}))[2].startswith(
        "element_voice_id: no voice '123'"
    )
    presets = client.get("/v1/general/advanced-presets-elements").json()["data"]
    names = [record["task_result"]["elements"][0]["element_name"] for record in presets]
    assert names == ["Grace", "Armored Youth"]
    voices = client.get("/v1/general/presets-voices", params={"pageSize": 1000}).json()["data"]
    assert {record["task_result"]["voices"][0]["owned_by"] for record in voices} == {"kling"}
    assert error_of(client.get("/v1/general/presets-voices", params={"pageSize": 1001}))[:2] == (400, 1201)
    assert error_of(client.get(ELEMENTS, params={"pageSize": 501}))[:2] == (400, 1201)


def test_a_retired_model_is_refused_and_nothing_is_made(sandbox: RunningSandbox, client: httpx.Client) -> None:
    status, code, message = error_of(client.post(TEXT2VIDEO, json={"prompt": "a fox", "model_name": "kling-v1"}))
    assert (status, code, message) == (
        400,
        1201,
        "The model 'kling-v1' has been discontinued and is no longer available.",
    )
    assert len(sandbox.state.tasks) == 0


def test_retired_models_are_configurable(sandbox_factory: SandboxFactory) -> None:
    with sandbox_factory(retired_models=("kling-v1-6",)).client() as client:
        create(client, TEXT2VIDEO, {"prompt": "a fox", "model_name": "kling-v1"})
        assert error_of(client.post(TEXT2VIDEO, json={"prompt": "a fox", "model_name": "kling-v1-6"}))[:2] == (
            400,
            1201,
        )


def test_an_image_call_needs_the_image_pack_even_with_video_units_left(sandbox_factory: SandboxFactory) -> None:
    with sandbox_factory(resource_pack_units=10).client() as client:
        finished(client, "/v1/images/generations", {"prompt": "a fox"})  # kling-v3: 8 image units
        status, code, message = error_of(client.post("/v1/images/generations", json={"prompt": "again"}))
        assert (status, code) == (429, 1102)
        assert message.startswith("Account balance not enough: the image resource pack has 2 units")
        create(client, TEXT2VIDEO, {"prompt": "the video pack is untouched", "model_name": "kling-v1-6"})
        assert client.post("/v1/audio/tts", json={"text": "hi", "voice_id": "v"}).status_code == 200


def test_concurrency_is_counted_per_model_version(sandbox_factory: SandboxFactory) -> None:
    sandbox = sandbox_factory(speed=SLOW, video_concurrency=1, image_concurrency=4)
    with sandbox.client() as client:
        create(client, TEXT2VIDEO, {"prompt": "3.0", "model_name": "kling-v3"})
        create(client, TEXT2VIDEO, {"prompt": "2.6", "model_name": "kling-v2-6"})  # another version: no contest
        assert (
            error_of(client.post("/v1/videos/image2video", json={"image": PICTURE, "model_name": "kling-v3"}))[1]
            == 1303
        )
        omni = {"prompt": "p", "model_name": "kling-v3-omni", "result_type": "series", "series_amount": 3}
        create(client, "/v1/images/omni-image", omni)  # a series of 3 holds 3 of the 4 image slots
        assert error_of(client.post("/v1/images/omni-image", json=omni | {"series_amount": 2}))[1] == 1303
        create(
            client,
            "/v1/images/omni-image",
            omni | {"series_amount": 2, "model_name": "kling-image-o1"} | {"result_type": "single", "n": 4},
        )


def test_an_auto_series_holds_and_bills_the_images_it_makes(sandbox_factory: SandboxFactory) -> None:
    clock = SteppedClock()
    sandbox = sandbox_factory(clock=clock)
    body = {"prompt": "p", "model_name": "kling-v3-omni", "result_type": "series", "series_amount": "auto"}
    with sandbox.client() as client:
        task_id = create(client, "/v1/images/omni-image", body)["task_id"]
        clock.advance(60)  # image tasks take seconds; the signed token stays valid
        done = client.get(f"/v1/images/omni-image/{task_id}").json()["data"]
    series = done["task_result"]["series_images"]
    assert done["task_result"]["result_type"] == "series"
    assert 2 <= len(series) <= 9
    assert done["final_unit_deduction"] == str(8 * len(series))

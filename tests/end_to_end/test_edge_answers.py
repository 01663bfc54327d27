"""Wrong paths, wrong methods and unreadable forms are answered in the shape the path speaks, naming what was sent:
the OpenAI-shaped surface (its videos API, new-api's route, any other `/v1` path) as OpenAI does, Kling's paths as
Kling does."""

from __future__ import annotations

import httpx
import pytest

from tests.gateway import RunningGateway

OPENAI_WRONG_METHODS = (
    ("PUT", "/v1/videos/video_01ABC", "GET"),
    ("PATCH", "/v1/videos/video_01ABC", "GET"),
    ("PUT", "/v1/videos", "GET, POST"),  # every method of every route of the path
    ("PATCH", "/v1/videos", "GET, POST"),
    ("OPTIONS", "/v1/videos", "GET, POST"),
    ("PUT", "/v1/video/generations", "POST"),
    ("PATCH", "/v1/video/generations", "POST"),
    ("GET", "/v1/video/generations", "POST"),
    ("PUT", "/v1/video/generations/video_01ABC", "GET"),
)
OPENAI_UNKNOWN_PATHS = ("/v1/models", "/v1/models/", "/v1/chat/completions", "/v1/video")


@pytest.mark.parametrize(("method", "path", "allowed"), OPENAI_WRONG_METHODS)
def test_a_wrong_method_on_the_openai_surface_is_405_in_its_shape(
    gateway: RunningGateway, method: str, path: str, allowed: str
) -> None:
    with gateway.client() as client:
        answer = client.request(method, path, json={"prompt": "x"})
    assert answer.status_code == 405
    assert allowed in answer.headers["allow"]
    error = answer.json()["error"]
    assert error["code"] == "method_not_allowed"
    assert error["message"].startswith(f"{method} is not allowed on {path}; it takes {allowed}")


@pytest.mark.parametrize("path", OPENAI_UNKNOWN_PATHS)
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_an_unknown_openai_path_is_404_in_its_shape_never_a_redirect(
    gateway: RunningGateway, method: str, path: str
) -> None:
    with gateway.client(user="") as client:
        answer = client.request(method, path)
    assert answer.status_code == 404
    assert "location" not in answer.headers
    error = answer.json()["error"]
    assert error["code"] == "not_found"
    assert error["message"].startswith(f"no such endpoint: {method} {path}; this gateway serves /v1/videos")


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("PUT", "/v1/videos/text2video/video_01ABC"),
        ("PATCH", "/kling/v1/videos/image2video"),
        ("PUT", "/v1/images/generations"),
        ("DELETE", "/v1/audio/text-to-audio/audio_01ABC"),
    ],
)
def test_a_wrong_method_on_a_kling_path_is_answered_as_kling_does(
    gateway: RunningGateway, method: str, path: str
) -> None:
    with gateway.client() as client:
        answer = client.request(method, path)
    assert answer.status_code == 404
    assert answer.json()["code"] == 1202
    assert answer.json()["message"].startswith(f"{method} is not allowed on {path}")


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/v1/videos/text2movie"),
        ("POST", "/kling/v1/images/generation"),
        ("GET", "/kling/v1/videos/text2movie/video_01ABC/extra"),
        ("POST", "/v1/audio/text2audio"),
    ],
)
def test_an_unknown_kling_path_names_the_method_and_path_sent(gateway: RunningGateway, method: str, path: str) -> None:
    with gateway.client() as client:
        answer = client.request(method, path, json={"prompt": "x"})
    assert answer.status_code == 404
    assert answer.json()["code"] == 1203
    assert answer.json()["message"].startswith(f"no such endpoint: {method} {path} (")
    assert "actions are" in answer.json()["message"]


def test_the_sandbox_names_the_method_and_path_sent(client: httpx.Client) -> None:
    answer = client.post("/v1/videos/text2movie", json={"prompt": "x"})
    assert answer.status_code == 404
    assert answer.json()["message"].startswith("no such endpoint: POST /v1/videos/text2movie (")


def _form_error(gateway: RunningGateway, **request: object) -> httpx.Response:
    with gateway.client() as client:
        return client.post("/v1/videos", **request)  # type: ignore[arg-type]


def test_a_form_without_a_boundary_is_400_naming_it(gateway: RunningGateway) -> None:
    answer = _form_error(gateway, content=b"--x\r\n", headers={"content-type": "multipart/form-data"})
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "invalid_request"
    assert "Missing boundary" in answer.json()["error"]["message"]
    assert gateway.admin.task_count() == 0


def test_a_form_with_too_many_fields_is_400_naming_the_limit(gateway: RunningGateway) -> None:
    fields = {"model": "kling-v2-6", "prompt": "a fox"} | {f"extra{number}": str(number) for number in range(1001)}
    answer = _form_error(gateway, data=fields, files={"input_reference": ("a.png", b"png", "image/png")})
    assert answer.status_code == 400
    message = answer.json()["error"]["message"]
    assert "Too many fields" in message
    assert "at most 100 fields" in message
    assert gateway.admin.task_count() == 0


def test_a_form_field_over_1_mb_is_413_naming_the_limit(gateway: RunningGateway) -> None:
    answer = _form_error(
        gateway,
        data={"model": "kling-v2-6", "prompt": "x" * (1024 * 1024 + 1)},
        files={"input_reference": ("a.png", b"png", "image/png")},
    )
    assert answer.status_code == 413
    assert answer.json()["error"]["code"] == "request_too_large"
    assert "exceeded maximum size of 1024KB" in answer.json()["error"]["message"]
    assert gateway.admin.task_count() == 0

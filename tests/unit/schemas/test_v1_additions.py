"""What the 2026 `/v1` additions answer beyond the tables: 4K modes, the synchronous calls' registry, TTS speed
clamping, series slots and the model versions concurrency is counted by."""

from typing import Any

import pytest

from kling_gateway.kling.schemas import SYNC_SPECS, Family, OmniImage, Package, PackType, parse_body, parse_create_body
from kling_gateway.kling.schemas.audio import TextToSpeech
from kling_gateway.kling.versions import model_version

from .cases import URL


@pytest.mark.parametrize(
    ("action", "body"),
    [
        pytest.param("text2video", {"model_name": "kling-v3", "prompt": "p", "mode": "4k"}, id="t2v"),
        pytest.param(
            "image2video", {"model_name": "kling-v3", "image": URL, "image_tail": URL, "mode": "4k"}, id="i2v"
        ),
        pytest.param(
            "omni-video",
            {
                "model_name": "kling-v3-omni",
                "prompt": "p",
                "mode": "4k",
                "aspect_ratio": "9:16",
                "video_list": [{"video_url": "https://cdn.example.com/v.mp4", "refer_type": "feature"}],
            },
            id="omni-with-reference-video",  # allowed since 2026-06-17 (Appendix A #10)
        ),
    ],
)
def test_native_4k_is_a_mode_of_the_3_0_models(action: str, body: dict[str, Any]) -> None:
    assert parse_create_body(Family.VIDEOS, action, body).mode() == "4k"


def test_the_synchronous_registry_names_family_and_pack() -> None:
    billed = {(str(f), c): spec.package for (f, c), spec in SYNC_SPECS.items() if spec.package is not None}
    assert billed == {
        ("audio", "tts"): Package.VIDEO,
        ("videos", "identify-face"): Package.VIDEO,
        ("videos", "image-recognize"): Package.VIDEO,
    }
    assert SYNC_SPECS[Family.GENERAL, "delete-voices"].path == "/v1/general/delete-voices"


@pytest.mark.parametrize(("speed", "used"), [(0.5, 0.8), (1.26, 1.3), (2.5, 2.0)])
def test_tts_speed_is_brought_into_range_rather_than_refused(speed: float, used: float) -> None:
    assert parse_body(TextToSpeech, {"text": "hi", "voice_id": "v", "voice_speed": speed}).voice_speed == used


def test_tts_text_and_language_are_checked() -> None:
    with pytest.raises(ValueError, match=r"text: is 1001 characters long; at most 1000 are allowed"):
        parse_body(TextToSpeech, {"text": "x" * 1001, "voice_id": "v"})
    with pytest.raises(ValueError, match=r'voice_language: "fr" is not allowed; allowed values are "zh", "en"'):
        parse_body(TextToSpeech, {"text": "hi", "voice_id": "v", "voice_language": "fr"})


@pytest.mark.parametrize(("amount", "slots"), [(6, 6), ("auto", 2), (None, 4)])
def test_a_series_holds_a_slot_per_image(amount: object, slots: int) -> None:
    body = {"prompt": "p", "model_name": "kling-v3-omni", "result_type": "series", "n": 9}
    parsed = parse_create_body(
        Family.IMAGES, "omni-image", body | ({} if amount is None else {"series_amount": amount})
    )
    assert isinstance(parsed, OmniImage)
    assert parsed.slots() == (PackType.IMAGE, slots)  # n is ignored; "auto" asks for the fewest until run


@pytest.mark.parametrize(
    ("path_model", "legacy"),
    [
        ("kling-3.0", "kling-v3"),
        ("kling-3.0-omni", "kling-v3-omni"),
        ("kling-o1", "kling-video-o1"),
        ("kling-2.6", "kling-v2-6"),
        ("kling-2.5-turbo", "kling-v2-5-turbo"),
        ("kling-3.0-turbo", "kling-3.0-turbo"),
    ],
)
def test_a_path_model_and_its_legacy_name_are_one_version(path_model: str, legacy: str) -> None:
    assert model_version(path_model) == model_version(legacy) == legacy

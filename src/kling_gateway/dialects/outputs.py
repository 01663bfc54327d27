"""A task's results and deductions in both of Kling's codecs, whichever generation made the task.

The legacy generation keeps its results as `task_result` (`videos[]`, `images[]`, `audios[]`, `voices[]`,
`elements[]`) and its deduction as `final_unit_deduction`; the new one as typed `outputs[]` and `billing[]`
(reference 2026 §2.4, §2.5). Kling's `/tasks` shows legacy tasks re-shaped into the new codec, so every dialect
can render either kind of task in either codec with these pure functions. A new-style task stores its result as
`{"outputs": [...]}` and its deductions in `billing_json`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any, NamedTuple

import orjson

from kling_gateway.kling.schemas import Package
from kling_gateway.store.records import TaskStatus, TaskView

NEW = "new"  # TaskView.generation of a task of the model-in-path API
OUTPUTS = "outputs"
AUDIO_FAMILY = "audio"
NO_BILLING = "[]"
Json = dict[str, Any]
_PACKAGE_OF_FAMILY = {"images": Package.IMAGE, "audio": Package.AUDIO}  # every other family bills the video pack
_RESOURCE_STATUS = {"succeed": "succeeded", "succeeded": "succeeded", "deleted": "deleted"}


class Output(NamedTuple):
    """The first file of a finished task, as the flat dialects show it: its URL, kind and length in seconds."""

    kind: str  # video | image | audio
    url: str
    duration_s: float | None


# -- results -----------------------------------------------------------------------------------------------------


def outputs_of_result(result: Mapping[str, Any]) -> list[Json]:
    """Turn a legacy `task_result` into the new generation's typed `outputs[]`."""
    outputs: list[Json] = []
    for video in result.get("videos") or ():
        outputs.append(
            _kept(
                {
                    "type": "video",
                    "id": video.get("id"),
                    "url": video.get("url"),
                    "watermark_url": video.get("watermark_url"),
                    "duration": video.get("duration"),
                }
            )
        )
    for key in ("images", "series_images"):
        for image in result.get(key) or ():
            outputs.append(
                _kept({"type": "image", "url": image.get("url"), "watermark_url": image.get("watermark_url")})
            )
    for audio in result.get("audios") or ():
        outputs.append(
            _kept(
                {
                    "type": "audio",
                    "id": audio.get("id"),
                    "mp3_url": audio.get("url_mp3") or audio.get("url"),
                    "wav_url": audio.get("url_wav"),
                    "mp3_duration": audio.get("duration_mp3") or audio.get("duration"),
                    "wav_duration": audio.get("duration_wav"),
                }
            )
        )
    for voice in result.get("voices") or ():
        outputs.append(
            _kept(
                {
                    "type": "voice",
                    "id": voice.get("voice_id"),
                    "name": voice.get("voice_name"),
                    "url": voice.get("trial_url"),
                    "owned_by": voice.get("owned_by"),
                    "status": "succeeded",
                }
            )
        )
    for element in result.get("elements") or ():
        element_id = element.get("element_id")
        outputs.append(
            _kept(
                {
                    "type": "element",
                    "id": None if element_id is None else str(element_id),
                    "name": element.get("element_name"),
                    "description": element.get("element_description"),
                    "element_type": element.get("reference_type"),
                    "owned_by": element.get("owned_by"),
                    "status": _RESOURCE_STATUS.get(element.get("status") or "", "succeeded"),
                    "tags": element.get("tag_list") or [],
                }
            )
        )
    return outputs


def result_of_outputs(outputs: Iterable[Mapping[str, Any]]) -> Json:
    """Turn the new generation's `outputs[]` into a legacy `task_result`."""
    result: dict[str, list[Json]] = {}
    for output in outputs:
        kind = output.get("type")
        if kind == "video":
            entry = {
                "id": output.get("id"),
                "url": output.get("url"),
                "watermark_url": output.get("watermark_url"),
                "duration": output.get("duration"),
            }
            result.setdefault("videos", []).append(_kept(entry))
        elif kind == "image":
            images = result.setdefault("images", [])
            images.append(
                _kept({"index": len(images), "url": output.get("url"), "watermark_url": output.get("watermark_url")})
            )
        elif kind == "audio":
            entry = {
                "id": output.get("id"),
                "url_mp3": output.get("mp3_url"),
                "url_wav": output.get("wav_url"),
                "duration_mp3": output.get("mp3_duration"),
                "duration_wav": output.get("wav_duration"),
            }
            result.setdefault("audios", []).append(_kept(entry))
        elif kind == "voice":
            entry = {
                "voice_id": output.get("id"),
                "voice_name": output.get("name"),
                "trial_url": output.get("url"),
                "owned_by": output.get("owned_by"),
            }
            result.setdefault("voices", []).append(_kept(entry))
        elif kind == "element":
            status = "succeed" if output.get("status") == "succeeded" else output.get("status")
            entry = {
                "element_id": output.get("id"),
                "element_name": output.get("name"),
                "element_description": output.get("description"),
                "reference_type": output.get("element_type"),
                "owned_by": output.get("owned_by"),
                "status": status,
                "tag_list": output.get("tags") or [],
            }
            result.setdefault("elements", []).append(_kept(entry))
    return dict(result)


def _kept(entry: Json) -> Json:
    """Leave out what the upstream did not say (Kling omits a key rather than sending null)."""
    return {key: value for key, value in entry.items() if value is not None}


def stored_outputs(row: TaskView) -> list[Json]:
    """Read a task's `outputs[]`, whichever generation made it."""
    stored = orjson.loads(row.result_json)
    if row.generation == NEW:
        outputs: list[Json] = stored.get(OUTPUTS) or []
        return outputs
    return outputs_of_result(stored)


def legacy_result_json(row: TaskView) -> str | Json:
    """A task's legacy `task_result`: the stored text as it is for a legacy task (nothing to re-encode on the hot
    path), the outputs turned back for a new-style one."""
    if row.generation != NEW:
        return row.result_json
    return result_of_outputs(orjson.loads(row.result_json).get(OUTPUTS) or ())


def first_output(row: TaskView) -> Output | None:
    """Read the first video, image or audio file of a succeeded task (an audio task's audio first); None before
    there is one."""
    if row.status is not TaskStatus.SUCCEED:
        return None
    outputs = stored_outputs(row)
    if row.family == AUDIO_FAMILY:  # a video-to-audio task gives its video back too: its result is the audio
        outputs.sort(key=lambda output: output.get("type") != "audio")
    for output in outputs:
        kind = output.get("type")
        url = output.get("mp3_url") or output.get("wav_url") if kind == "audio" else output.get("url")
        if kind in ("video", "image", "audio") and url:
            duration = output.get("mp3_duration") if kind == "audio" else output.get("duration")
            return Output(kind=str(kind), url=str(url), duration_s=_seconds(duration))
    return None


def _seconds(raw: Any) -> float | None:
    try:
        return None if raw is None or isinstance(raw, bool) else float(raw)
    except (TypeError, ValueError):
        return None


# -- deductions --------------------------------------------------------------------------------------------------


def package_of(family: str) -> Package:
    """The pack a legacy task of a family is deducted from (elements and voices, too, draw on the video pack)."""
    return _PACKAGE_OF_FAMILY.get(family, Package.VIDEO)


def billing_of_deduction(final_unit_deduction: str | None, package: Package) -> list[Json]:
    """Turn a legacy `final_unit_deduction` into `billing[]` entries, as Kling's `/tasks` shows legacy tasks."""
    if final_unit_deduction is None or final_unit_deduction == "":
        return []
    return [{"charge_type": "unit", "amount": final_unit_deduction, "package_type": package.value}]


def deduction_of_billing(billing: Sequence[Mapping[str, Any]]) -> str | None:
    """Turn `billing[]` into a legacy `final_unit_deduction`: the units of its unit entries; None if it has none."""
    amounts = [str(entry.get("amount")) for entry in billing if entry.get("charge_type") == "unit"]
    if not amounts:
        return None
    if len(amounts) == 1:
        return amounts[0]
    try:
        return str(sum((Decimal(amount) for amount in amounts), Decimal(0)))
    except InvalidOperation:
        return None


def stored_billing(row: TaskView) -> list[Json]:
    """A task's `billing[]`: as the upstream gave it when it did, else made from its `final_unit_deduction`."""
    if row.billing_json != NO_BILLING:
        billing: list[Json] = orjson.loads(row.billing_json)
        return billing
    return billing_of_deduction(row.final_unit_deduction, package_of(row.family))


def unit_deduction(row: TaskView) -> str | None:
    """A task's legacy `final_unit_deduction`, whichever generation made it."""
    if row.final_unit_deduction is not None or row.billing_json == NO_BILLING:
        return row.final_unit_deduction
    return deduction_of_billing(orjson.loads(row.billing_json))

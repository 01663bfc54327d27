"""Translate between the two generations' task shapes (reference 2026 §2.4, §2.5, §9 item 3).

A legacy task keeps its results in `task_result.{videos, images, audios, voices, elements, series_images}` and
its deduction in `final_unit_deduction`; the new generation lists typed `outputs[]` and `billing[]`. These pure
functions go both ways, so the sandbox and the gateway render either generation's tasks the same way.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

Item = dict[str, Any]

NEW_STATUS = {"succeed": "succeeded"}
LEGACY_STATUS = {new: legacy for legacy, new in NEW_STATUS.items()}
SERIES_GROUP = "series"  # [derived] the group_id of an omni-image series; the vendor's own value is unpublished
_ELEMENT_TYPE = {"image_refer": "multi_image_elements", "video_refer": "video_character_elements"}
_REFERENCE_TYPE = {new: legacy for legacy, new in _ELEMENT_TYPE.items()}
# Field renames per result key, legacy name -> new name; fields not named keep their name.
_RENAMES: Mapping[str, Mapping[str, str]] = {
    "videos": {},
    "images": {},
    "audios": {
        "url_mp3": "mp3_url",
        "url_wav": "wav_url",
        "duration_mp3": "mp3_duration",
        "duration_wav": "wav_duration",
    },
    "voices": {"voice_id": "id", "voice_name": "name", "trial_url": "url"},
}
_DROPPED = {"images": ("index",)}  # new image outputs carry no index (§2.4)
_TYPES = {"videos": "video", "images": "image", "series_images": "image", "audios": "audio", "voices": "voice"}


def new_status(legacy: str) -> str:
    """Spell a legacy task status the new way (`succeed` -> `succeeded`)."""
    return NEW_STATUS.get(legacy, legacy)


def legacy_status(new: str) -> str:
    """Spell a new task status the legacy way (`succeeded` -> `succeed`)."""
    return LEGACY_STATUS.get(new, new)


def outputs_of(task_result: Mapping[str, Any]) -> list[Item]:
    """Turn a legacy `task_result` into typed `outputs[]`, key by key (unknown list keys pass through typed)."""
    outputs: list[Item] = []
    for key, items in task_result.items():
        if not isinstance(items, list):
            continue  # result_type and the like: said again by the outputs themselves
        for item in items:
            if isinstance(item, dict):
                outputs.extend(_OUT.get(key, _generic(key))(item))
    return outputs


def _generic(key: str) -> Callable[[Item], list[Item]]:
    kind = _TYPES.get(key, key.removesuffix("s"))
    renames, dropped = _RENAMES.get(key, {}), _DROPPED.get(key, ())

    def convert(item: Item) -> list[Item]:
        out: Item = {"type": kind}
        for name, value in item.items():
            if name not in dropped:
                out[renames.get(name, name)] = value
        return [out]

    return convert


def _audio(item: Item) -> list[Item]:
    out = _generic("audios")(item)[0]
    # TTS tracks have one MP3 `url` and `duration` instead of the paired fields.
    if "url" in out and "mp3_url" not in out:
        out["mp3_url"] = out.pop("url")
    if "duration" in out and "mp3_duration" not in out:
        out["mp3_duration"] = out.pop("duration")
    return [out]


def _voice(item: Item) -> list[Item]:
    out = _generic("voices")(item)[0]
    out["status"] = new_status(str(item.get("status", "succeed")))
    return [out]


def _series(item: Item) -> list[Item]:
    out = _generic("images")(item)[0]
    out["type"], out["group_id"] = "image", SERIES_GROUP
    return [out]


def _image(item: Item) -> list[Item]:
    if "url_1" not in item:
        return _generic("images")(item)
    # ai-multi-shot: one candidate set of angle views; the set's index becomes the group of its images.
    urls = sorted((name for name in item if name.startswith("url_")), key=lambda name: int(name[4:]))
    return [{"type": "image", "url": item[name], "group_id": str(item.get("index", 0))} for name in urls]


def _element(item: Item) -> list[Item]:
    images = item.get("element_image_list") or {}
    references: list[Item] = []
    if images.get("frontal_image"):
        references.append({"type": "image", "role": "frontal", "url": images["frontal_image"]})
    references += [
        {"type": "image", "role": "reference", "url": i["image_url"]} for i in images.get("refer_images", [])
    ]
    videos = (item.get("element_video_list") or {}).get("refer_videos", [])
    references += [{"type": "video", "role": "refer", "url": video["video_url"]} for video in videos]
    voice = item.get("element_voice_info") or {}
    if voice:
        references.append(_voice_reference(voice))
    return [
        {
            "type": "element",
            "id": str(item.get("element_id", "")),
            "name": item.get("element_name", ""),
            "description": item.get("element_description", ""),
            "element_type": _ELEMENT_TYPE.get(str(item.get("reference_type")), item.get("reference_type")),
            "references": references,
            "owned_by": item.get("owned_by", ""),
            "status": new_status(str(item.get("status", "succeed"))),
            "tags": [_tag(tag) for tag in item.get("tag_list", [])],
        }
    ]


def _voice_reference(voice: Item) -> Item:
    return {
        "type": "voice",
        "role": "refer",
        "id": voice.get("voice_id"),
        "name": voice.get("voice_name"),
        "url": voice.get("trial_url"),
        "owned_by": voice.get("owned_by"),
    }


def _tag(tag: Item) -> Item:
    raw = str(tag.get("tag_id", tag.get("id", "")))
    return {
        "id": int(raw) if raw.isascii() and raw.isdigit() else raw,
        "name": tag.get("tag_name", tag.get("name", "")),
        "description": tag.get("tag_description", tag.get("description", "")),
    }


_OUT: Mapping[str, Callable[[Item], list[Item]]] = {
    "audios": _audio,
    "voices": _voice,
    "series_images": _series,
    "images": _image,
    "elements": _element,
}


def task_result_of(outputs: Iterable[Item]) -> dict[str, Any]:
    """Turn typed `outputs[]` back into a legacy `task_result` (the inverse of outputs_of)."""
    result: dict[str, list[Item]] = {}
    images: list[Item] = []
    groups: dict[str, list[str]] = {}
    for output in outputs:
        kind = output.get("type")
        fields = {name: value for name, value in output.items() if name != "type"}
        if kind == "image" and fields.get("group_id") == SERIES_GROUP:
            result.setdefault("series_images", []).append(fields)
        elif kind == "image" and "group_id" in fields:
            groups.setdefault(str(fields["group_id"]), []).append(fields["url"])
        elif kind == "image":
            images.append(fields)
        elif kind == "element":
            result.setdefault("elements", []).append(_legacy_element(fields))
        else:
            key = next((k for k, t in _TYPES.items() if t == kind), f"{kind}s")
            back = {new: old for old, new in _RENAMES.get(key, {}).items()}
            if kind == "voice":
                fields.pop("status", None)  # legacy voices carry no status
            result.setdefault(key, []).append({back.get(name, name): value for name, value in fields.items()})
    if images:
        result["images"] = [{"index": index} | image for index, image in enumerate(images)]
    for group, urls in groups.items():
        angles = {f"url_{n}": url for n, url in enumerate(urls, start=1)}
        result.setdefault("images", []).append({"index": int(group) if group.isdigit() else group} | angles)
    for index, image in enumerate(result.get("series_images", [])):
        image.pop("group_id", None)
        result["series_images"][index] = {"index": index} | image
    if "series_images" in result:
        return {"result_type": "series", "images": result.get("images", [])} | result
    return result


def _legacy_element(fields: Item) -> Item:
    references = fields.get("references") or fields.get("materials") or []  # Appendix A #5: both names
    frontal = next((r["url"] for r in references if r.get("type") == "image" and r.get("role") == "frontal"), None)
    refers = [r for r in references if r.get("type") == "image" and r.get("role") != "frontal"]
    videos = [r for r in references if r.get("type") == "video"]
    voice = next((r for r in references if r.get("type") == "voice"), None)
    element_id = str(fields.get("id", ""))
    return {
        "element_id": int(element_id) if element_id.isdigit() else element_id,
        "element_name": fields.get("name", ""),
        "element_description": fields.get("description", ""),
        "reference_type": _REFERENCE_TYPE.get(str(fields.get("element_type")), fields.get("element_type")),
        "element_image_list": (
            {"frontal_image": frontal, "refer_images": [{"image_url": r["url"]} for r in refers]} if frontal else {}
        ),
        "element_video_list": {"refer_videos": [{"video_url": r["url"]} for r in videos]} if videos else {},
        "element_voice_info": (
            {
                "voice_id": voice.get("id"),
                "voice_name": voice.get("name"),
                "trial_url": voice.get("url"),
                "owned_by": voice.get("owned_by"),
            }
            if voice
            else {}
        ),
        "tag_list": [_legacy_tag(tag) for tag in fields.get("tags", [])],
        "owned_by": fields.get("owned_by", ""),
        "status": legacy_status(str(fields.get("status", "succeeded"))),
    }


def _legacy_tag(tag: Item) -> Item:
    back: Item = {"tag_id": str(tag.get("id", ""))}
    for name in ("name", "description"):
        if tag.get(name):
            back[f"tag_{name}"] = tag[name]
    return back


def unit_billing(amount: str | Decimal, package_type: str) -> list[Item]:
    """Render a unit deduction as `billing[]`; nothing for a task that deducted nothing."""
    return [{"charge_type": "unit", "amount": _decimal_text(amount), "package_type": package_type}]


def billing_of(legacy: Mapping[str, Any], package_type: str, currency: str | None = None) -> list[Item]:
    """Turn a legacy record's `final_unit_deduction` / `final_balance_deduction` into `billing[]` entries."""
    balance = legacy.get("final_balance_deduction")
    if isinstance(balance, Mapping) and balance.get("quota") is not None and currency is not None:
        return [
            {
                "charge_type": "cash",
                "amount": _decimal_text(balance["quota"]),
                "cash_type": "balance",
                "currency": currency,
                "list_price": _decimal_text(balance.get("list_price", balance["quota"])),
            }
        ]
    units = legacy.get("final_unit_deduction")
    return [] if units is None else unit_billing(units, package_type)


def record_of(legacy: Mapping[str, Any], billing: list[Item]) -> Item:
    """Re-shape a legacy task object into the new `/tasks` record, with its `billing[]` already worked out."""
    status = new_status(str(legacy.get("task_status", "")))
    info = legacy.get("task_info") or {}
    record: Item = {
        "id": str(legacy.get("task_id", "")),
        "status": status,
        "message": legacy.get("task_status_msg") or "",
        "create_time": legacy.get("created_at"),
        "update_time": legacy.get("updated_at"),
        "external_id": info.get("external_task_id") or "",
        "outputs": outputs_of(legacy.get("task_result") or {}) if status == "succeeded" else [],
        "billing": billing if status == "succeeded" else [],
    }
    return record


def _decimal_text(amount: object) -> str:
    try:
        return format(Decimal(str(amount)).normalize(), "f")
    except InvalidOperation:
        return str(amount)

"""A task's results and deductions in both of Kling's codecs, whichever generation made the task.

The legacy generation keeps its results as `task_result` and its deduction as `final_unit_deduction`; the new one
as typed `outputs[]` and `billing[]` (reference 2026 §2.4, §2.5). Kling's `/tasks` shows legacy tasks re-shaped
into the new codec, so every dialect renders either kind of task in either codec, through the translations the
sandbox uses too (`kling.outputs`). A new-style task stores its result as `{"outputs": [...]}` and its deductions
in `billing_json`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any, NamedTuple

import orjson

from kling_gateway.kling.outputs import outputs_of, task_result_of, unit_billing
from kling_gateway.kling.schemas import Package, legacy_package
from kling_gateway.store.records import TaskStatus, TaskView

NEW = "new"  # TaskView.generation of a task of the model-in-path API
OUTPUTS = "outputs"
AUDIO_FAMILY = "audio"
NO_BILLING = "[]"
Json = dict[str, Any]


class Output(NamedTuple):
    """The first file of a finished task, as the flat dialects show it: its URL, kind and length in seconds."""

    kind: str  # video | image | audio
    url: str
    duration_s: float | None


# -- results -----------------------------------------------------------------------------------------------------


def stored_outputs(row: TaskView) -> list[Json]:
    """Read a task's `outputs[]`, whichever generation made it."""
    stored = orjson.loads(row.result_json)
    if row.generation == NEW:
        outputs: list[Json] = stored.get(OUTPUTS) or []
        return outputs
    return outputs_of(stored)


def legacy_result_json(row: TaskView) -> str | Json:
    """A task's legacy `task_result`: the stored text as it is for a legacy task (nothing to re-encode on the hot
    path), the outputs turned back for a new-style one."""
    if row.generation != NEW:
        return row.result_json
    return task_result_of(orjson.loads(row.result_json).get(OUTPUTS) or ())


def first_output(row: TaskView) -> Output | None:
    """Read the first video, image or audio file of a succeeded task (an audio task's audio first, a voice's trial
    recording); None before there is one (an element has none: it is a set of references)."""
    if row.status is not TaskStatus.SUCCEED:
        return None
    outputs = stored_outputs(row)
    if row.family == AUDIO_FAMILY:  # a video-to-audio task gives its video back too: its result is the audio
        outputs.sort(key=lambda output: output.get("type") != "audio")
    for output in outputs:
        kind = output.get("type")
        url = output.get("mp3_url") or output.get("wav_url") if kind == "audio" else output.get("url")
        if kind == "voice":  # a custom voice's file is its trial recording
            kind = "audio"
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


def billing_of_deduction(final_unit_deduction: str | None, package: Package) -> list[Json]:
    """Turn a legacy `final_unit_deduction` into `billing[]` entries, as Kling's `/tasks` shows legacy tasks."""
    if final_unit_deduction is None or final_unit_deduction == "":
        return []
    return unit_billing(final_unit_deduction, package.value)


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
    return billing_of_deduction(row.final_unit_deduction, legacy_package(row.family, row.action))


def unit_deduction(row: TaskView) -> str | None:
    """A task's legacy `final_unit_deduction`, whichever generation made it."""
    if row.final_unit_deduction is not None or row.billing_json == NO_BILLING:
        return row.final_unit_deduction
    return deduction_of_billing(orjson.loads(row.billing_json))

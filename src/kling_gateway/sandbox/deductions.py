"""What a finished task or a synchronous call took from its account: one record, rendered three ways.

Legacy records show it as `final_unit_deduction` / `final_balance_deduction`, the new generation as `billing[]`
(`billing_entries`), and the deduction exports (`/account/billing/package`, `/account/billing/balance`) as one
row each. All three come from the same `Deduction`, so they reconcile by construction.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

from kling_gateway.kling.schemas import CreateBody, Package, PackType
from kling_gateway.sandbox.store import Payer, SandboxTask

ChargeType = Literal["unit", "cash"]
MONEY_PLACES = Decimal("0.000001")  # cash amounts are kept to the micro-unit of the currency
_RESOLUTION_OF_MODE = {"std": "720p", "pro": "1080p", "4k": "4k"}  # the ledger's mapping of legacy modes
_PRODUCT_FUNCTIONS = {
    "text2video": "Text to Video",
    "image2video": "Image to Video",
    "omni-video": "Omni Video",
    "multi-image2video": "Multi-Image to Video",
    "multi-elements": "Multi-Elements Video Editing",
    "lip-sync": "Lip Sync",
    "advanced-lip-sync": "Advanced Lip Sync",
    "video-extend": "Video Extension",
    "effects": "Video Effects",
    "avatar/image2video": "Avatar",
    "motion-control": "Motion Control",
    "generations": "Image Generation",
    "omni-image": "Omni Image",
    "multi-image2image": "Multi-Image to Image",
    "kolors-virtual-try-on": "Virtual Try-On",
    "editing/expand": "Image Outpainting",
    "text-to-audio": "Text to Audio",
    "video-to-audio": "Video to Audio",
    "advanced-custom-elements": "Custom Element",
    "custom-voices": "Custom Voice",
    "ai-multi-shot": "AI Multi-Shot",
    "tts": "Text to Speech",
    "identify-face": "Face Recognition",
    "image-recognize": "Image Recognition",
}


@dataclass(frozen=True, slots=True)
class Deduction:
    """One deduction: which task or call, whose, in units or cash, how much, from which pack, when, and what for."""

    task_id: str  # a synchronous call without a task id is recorded under its envelope's request_id
    account: str  # the access key of the account
    api_key_name: str
    charge_type: ChargeType
    amount: Decimal  # units (unit) or the discounted money (cash)
    units: Decimal  # the units of the price table, whatever pays them
    package: Package
    product_type: str  # the exports' spelling: video, image, try-on, audio
    currency: str | None
    list_price: Decimal | None  # cash only: the money before discount
    deduction_ms: int
    product_function: str
    model_name: str
    resolution: str | None = None
    duration: str | None = None  # video only, like the three below
    refer_video_input: bool | None = None
    video_sound: str | None = None
    voice_control: bool | None = None


@dataclass(frozen=True, slots=True)
class Facts:
    """What the export rows say about the work that was charged."""

    product_function: str
    model_name: str
    product_type: str
    resolution: str | None = None
    duration: str | None = None
    refer_video_input: bool | None = None
    video_sound: str | None = None
    voice_control: bool | None = None


def product_function(action: str) -> str:
    """Name the product of an action path (`text2video`, `text-to-video/kling-3.0`, `audio/tts`) for the exports."""
    name = action.rpartition("/")[2] if action.startswith(("audio/", "general/")) else action
    if name in _PRODUCT_FUNCTIONS:
        return _PRODUCT_FUNCTIONS[name]
    return name.split("/")[0].replace("-", " ").capitalize()  # a new-generation `<product>/<model>` path


def charge(
    *, task_id: str, account: str, payer: Payer, units: Decimal, package: Package, facts: Facts, at_ms: int
) -> Deduction:
    """Record what `units` of `package` cost an account that pays as `payer` says."""
    if payer.currency is None:
        charge_type: ChargeType = "unit"
        amount, list_price = units, None
    else:
        charge_type = "cash"
        list_price = (units * payer.unit_price).quantize(MONEY_PLACES)
        amount = (list_price * payer.discount).quantize(MONEY_PLACES)
    return Deduction(
        task_id=task_id,
        account=account,
        api_key_name=payer.api_key_name,
        charge_type=charge_type,
        amount=amount,
        units=units,
        package=package,
        product_type=facts.product_type,
        currency=payer.currency,
        list_price=list_price,
        deduction_ms=at_ms,
        product_function=facts.product_function,
        model_name=facts.model_name,
        resolution=facts.resolution,
        duration=facts.duration,
        refer_video_input=facts.refer_video_input,
        video_sound=facts.video_sound,
        voice_control=facts.voice_control,
    )


def task_deduction(task: SandboxTask) -> Deduction | None:
    """Compute what a task takes when it ends (at `timeline.finished_ms`); None for a task that fails."""
    if task.timeline.failure_message is not None:
        return None
    return charge(
        task_id=task.task_id,
        account=task.account,
        payer=task.payer,
        units=task.units,
        package=task.body.package(),
        facts=task_facts(task),
        at_ms=task.timeline.finished_ms,
    )


def task_facts(task: SandboxTask) -> Facts:
    """Describe a task as the export rows do."""
    body, spec = task.body, task.spec
    action = spec.action
    pack_type = body.slots()[0]
    product_type = "try-on" if pack_type is PackType.TRY_ON else body.package().value
    if body.package() is not Package.VIDEO or not task.result.get("videos"):
        return Facts(product_function(action), body.model(), product_type, _resolution(body))
    return Facts(
        product_function=product_function(action),
        model_name=body.model(),
        product_type=product_type,
        resolution=_resolution(body),
        duration=str(task.result["videos"][0]["duration"]),
        refer_video_input=bool(getattr(body, "video_list", None)) or body.variant() == "video-in",
        video_sound=_video_sound(body),
        voice_control=body.variant() == "voice",
    )


def deduction_fields(deduction: Deduction | None) -> dict[str, Any]:
    """Render a deduction as the legacy records show it: `final_unit_deduction`, and for cash the balance part."""
    if deduction is None:
        return {}
    if deduction.charge_type == "unit":
        return {"final_unit_deduction": _text(deduction.amount)}
    assert deduction.list_price is not None  # a cash deduction always has its list price
    return {
        "final_unit_deduction": "0",
        "final_balance_deduction": {"quota": _text(deduction.amount), "list_price": _text(deduction.list_price)},
    }


def billing_entries(deduction: Deduction | None) -> list[dict[str, str]]:
    """Render a deduction as the new generation's `billing[]` items (amounts as decimal strings)."""
    if deduction is None:
        return []
    if deduction.charge_type == "unit":
        return [{"charge_type": "unit", "amount": _text(deduction.amount), "package_type": deduction.package.value}]
    assert deduction.currency is not None
    assert deduction.list_price is not None
    return [
        {
            "charge_type": "cash",
            "amount": _text(deduction.amount),
            "cash_type": "balance",
            "currency": deduction.currency,
            "list_price": _text(deduction.list_price),
        }
    ]


def _text(amount: Decimal) -> str:
    return format(amount.normalize(), "f")


def _resolution(body: CreateBody) -> str | None:
    resolution = getattr(body, "resolution", None)
    if isinstance(resolution, str):
        return resolution
    mode = body.mode()
    return _RESOLUTION_OF_MODE.get(mode) if mode is not None else None


def _video_sound(body: CreateBody) -> str:
    if body.with_sound():
        return "native"
    keeps = getattr(body, "keep_original_sound", None) == "yes" or any(
        getattr(video, "keep_original_sound", None) == "yes" for video in getattr(body, "video_list", None) or []
    )
    return "original" if keeps else "off"

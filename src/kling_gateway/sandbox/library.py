"""The element and voice libraries of each account, with the official presets, as the 2026 `/v1` calls see them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from kling_gateway.kling.codes import KlingCode
from kling_gateway.sandbox.errors import SandboxError
from kling_gateway.sandbox.products import PRESET_ELEMENTS, PRESET_VOICES, preset_element, voice_item
from kling_gateway.sandbox.store import SandboxTask

PRESET_VOICE_ID_BASE = 800_000_000_000_000_000


def preset_voice_ids() -> list[str]:
    """List the ids of the official voices."""
    return [str(PRESET_VOICE_ID_BASE + index) for index in range(len(PRESET_VOICES))]


@dataclass(slots=True)
class Library:
    """Hold every custom element and voice by id, next to the task that made it."""

    _elements: dict[int, tuple[SandboxTask, dict[str, Any]]] = field(default_factory=dict)
    _voices: dict[str, tuple[SandboxTask, dict[str, Any]]] = field(default_factory=dict)

    def add(self, task: SandboxTask) -> None:
        """Index the elements and voices a task makes (visible once it succeeds)."""
        for element in task.result.get("elements", ()):
            self._elements[element["element_id"]] = (task, element)
            voice = element.get("element_voice_info")
            if voice and voice.get("owned_by") != "kling" and voice["voice_id"] not in self._voices:
                self._voices[voice["voice_id"]] = (task, voice)
        for voice in task.result.get("voices", ()):
            self._voices[voice["voice_id"]] = (task, voice)

    def voice(self, account: str, voice_id: str, now_ms: int, base_url: str) -> dict[str, Any] | None:
        """Find a voice an element may bind: a finished custom voice of the account, or an official one."""
        if voice_id in preset_voice_ids():
            return self.preset_voices(base_url)[preset_voice_ids().index(voice_id)]
        found = self._voices.get(voice_id)
        if found is None or found[0].account != account or not found[0].succeeded_by(now_ms):
            return None
        return found[1]

    def delete_element(self, account: str, element_id: str, now_ms: int) -> None:
        """Mark a custom element of the account deleted; its task's record shows it so from now on."""
        found = self._elements.get(int(element_id)) if element_id.isascii() and element_id.isdigit() else None
        if found is None or found[0].account != account or not found[0].succeeded_by(now_ms):
            raise _not_found("element_id", element_id, "custom element")
        task, element = found
        if element["status"] == "deleted":
            raise _not_found("element_id", element_id, "custom element")
        element["status"] = "deleted"
        task.final_json = None  # the finished record changed: encode it afresh

    def delete_voice(self, account: str, voice_id: str, now_ms: int) -> None:
        """Remove a custom voice of the account from its library."""
        found = self._voices.get(voice_id)
        if found is None or found[0].account != account or not found[0].succeeded_by(now_ms):
            raise _not_found("voice_id", voice_id, "custom voice")
        del self._voices[voice_id]

    @staticmethod
    def preset_elements(base_url: str) -> list[dict[str, Any]]:
        """List the official elements."""
        return [
            preset_element(index, name, description, base_url)
            for index, (name, description) in enumerate(PRESET_ELEMENTS)
        ]

    @staticmethod
    def preset_voices(base_url: str) -> list[dict[str, Any]]:
        """List the official voices."""
        return [
            voice_item(base_url, voice_id, name, "kling")
            for voice_id, (name, _language) in zip(preset_voice_ids(), PRESET_VOICES, strict=True)
        ]


def _not_found(name: str, value: str, kind: str) -> SandboxError:
    return SandboxError(KlingCode.ILLEGAL_VALUE, f"{name}: no {kind} {value!r} in this account")

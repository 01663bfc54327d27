"""Which model version a model name counts as: the unit Kling's concurrency is counted in (2026 reference §7)."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

# A new-generation path model and its legacy `model_name` are the same model version (2026 reference §3.2).
_LEGACY_NAME_OF_PATH_MODEL: Mapping[str, str] = MappingProxyType(
    {
        "kling-3.0": "kling-v3",
        "kling-3.0-omni": "kling-v3-omni",
        "kling-o1": "kling-video-o1",
        "kling-2.6": "kling-v2-6",
        "kling-2.5-turbo": "kling-v2-5-turbo",
    }
)


def model_version(model: str) -> str:
    """Name the model version a model belongs to, the same for `kling-3.0` (in a path) and `kling-v3` (in a body)."""
    return _LEGACY_NAME_OF_PATH_MODEL.get(model, model)

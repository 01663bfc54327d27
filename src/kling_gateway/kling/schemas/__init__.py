"""What a valid request body is for every Kling endpoint: the contract of the sandbox and the gateway."""

from .base import CreateBody, Family, Generation, InvalidBody, Package, PackType
from .edits import Avatar, Effects, MultiElements, VideoExtend
from .errors import parse_body
from .images import ImageExpand, ImageGeneration, MultiImage2Image, OmniImage, VirtualTryOn
from .lipsync import AdvancedLipSync, LipSync
from .omni import OmniVideo
from .registry import (
    ACTIONS,
    ALL_V1_ACTIONS,
    NEW_ACTIONS,
    SYNC_CALLS,
    SYNC_SPECS,
    V1_ADDITIONS,
    ActionSpec,
    SyncSpec,
    legacy_package,
    new_models,
    parse_create_body,
)
from .videos import Image2Video, MotionControl, MultiImage2Video, Text2Video

__all__ = [
    "ACTIONS",
    "ALL_V1_ACTIONS",
    "NEW_ACTIONS",
    "SYNC_CALLS",
    "SYNC_SPECS",
    "V1_ADDITIONS",
    "ActionSpec",
    "AdvancedLipSync",
    "Avatar",
    "CreateBody",
    "Effects",
    "Family",
    "Generation",
    "Image2Video",
    "ImageExpand",
    "ImageGeneration",
    "InvalidBody",
    "LipSync",
    "MotionControl",
    "MultiElements",
    "MultiImage2Image",
    "MultiImage2Video",
    "OmniImage",
    "OmniVideo",
    "PackType",
    "Package",
    "SyncSpec",
    "Text2Video",
    "VideoExtend",
    "VirtualTryOn",
    "legacy_package",
    "new_models",
    "parse_body",
    "parse_create_body",
]

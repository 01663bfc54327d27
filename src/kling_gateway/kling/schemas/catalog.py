"""The Kling models each endpoint accepts and what each model can do (reference §2.3–2.16)."""

from dataclasses import dataclass
from typing import Literal, get_args

Text2VideoModel = Literal[
    "kling-v1",
    "kling-v1-6",
    "kling-v2-master",
    "kling-v2-1-master",
    "kling-v2-5-turbo",
    "kling-v2-6",
    "kling-v3",
]
Image2VideoModel = Literal[
    "kling-v1",
    "kling-v1-5",
    "kling-v1-6",
    "kling-v2-master",
    "kling-v2-1",
    "kling-v2-1-master",
    "kling-v2-5-turbo",
    "kling-v2-6",
    "kling-v3",
]
OmniVideoModel = Literal["kling-video-o1", "kling-v3-omni"]
MultiImage2VideoModel = Literal["kling-v1-6"]
MultiElementsModel = Literal["kling-v1-6"]
MotionControlModel = Literal["kling-v2-6", "kling-v3"]
LegacyEffectsModel = Literal["kling-v1", "kling-v1-5", "kling-v1-6"]
ImageGenerationModel = Literal["kling-v1", "kling-v1-5", "kling-v2", "kling-v2-new", "kling-v2-1", "kling-v3"]
OmniImageModel = Literal["kling-image-o1", "kling-v3-omni"]
MultiImage2ImageModel = Literal["kling-v2", "kling-v2-1"]
TryOnModel = Literal["kolors-virtual-try-on-v1", "kolors-virtual-try-on-v1-5"]

CLIP_DURATIONS = ("5", "10")
V3_DURATIONS = tuple(str(s) for s in range(3, 16))
O1_DURATIONS = tuple(str(s) for s in range(3, 11))

# kling-v3 and kling-v3-omni take any whole second from 3 to 15; every older video model takes 5 or 10.
LONG_DURATION_MODELS = frozenset({"kling-v3", "kling-v3-omni"})
CFG_SCALE_UNSUPPORTED = frozenset(
    {"kling-v2-master", "kling-v2-1", "kling-v2-1-master", "kling-v2-5-turbo", "kling-v2-6"}
)
CLIP_SOUND_MODELS = ("kling-v2-6", "kling-v3")
OMNI_SOUND_MODELS = ("kling-v3-omni",)
SOUND_PRO_ONLY = frozenset({"kling-v2-6"})
# "single tier" in the capability map (§2.16): these models have no pro mode to ask for.
SINGLE_TIER_MODELS = frozenset({"kling-v2-master", "kling-v2-1-master"})
MULTI_SHOT_MODELS = ("kling-v3", "kling-v3-omni")


@dataclass(frozen=True)
class Support:
    """Where a feature works for one model: in which modes and at which durations."""

    modes: tuple[str, ...] = ("std", "pro")
    durations: tuple[str, ...] | None = None


# §2.3: text-to-video camera control is kling-v1 std 5 s only.
T2V_CAMERA_CONTROL = {"kling-v1": Support(modes=("std",), durations=("5",))}
# §2.4: image-to-video camera control is kling-v1-5 pro 5 s, type "simple" only.
I2V_CAMERA_CONTROL = {"kling-v1-5": Support(modes=("pro",), durations=("5",))}
# §2.4, §2.16: motion brush is kling-v1 std/pro 5 s and kling-v1-5 pro 5 s.
MOTION_BRUSH = {
    "kling-v1": Support(durations=("5",)),
    "kling-v1-5": Support(modes=("pro",), durations=("5",)),
}
# §2.16 "start/end & motion brush 5s" for kling-v1, "end frame pro" for the later models. kling-v2-master and
# kling-v2-1-master list no end frame, so image_tail is refused there. kling-v3 is not in the map; it is
# documented with first and end frames in both modes, so both are allowed.
IMAGE_TAIL = {
    "kling-v1": Support(durations=("5",)),
    "kling-v1-5": Support(modes=("pro",)),
    "kling-v1-6": Support(modes=("pro",)),
    "kling-v2-1": Support(modes=("pro",)),
    "kling-v2-5-turbo": Support(modes=("pro",)),
    "kling-v2-6": Support(modes=("pro",)),
    "kling-v3": Support(modes=("std", "pro", "4k")),
}

# §2.10: dual-person scenes take two images; the legacy ones also name a model.
LEGACY_DUAL_EFFECTS = frozenset({"hug", "kiss", "heart_gesture", "fight"})
DUAL_EFFECTS = frozenset({"hug_pro", "kiss_pro", "fight_pro", "heart_gesture_pro", "cheers_2026"})
# "fight" was only ever offered on kling-v1-6.
LEGACY_EFFECT_MODELS = {"fight": ("kling-v1-6",)}

# §2.12: image_reference is a kling-v1-5 feature, later also kling-v2-1.
IMAGE_REFERENCE_MODELS = ("kling-v1-5", "kling-v2-1")
# §2.12 says 2k is for "some models, e.g. kling-v2 T2I"; the stricter reading refuses it on the first
# generation (kling-v1, kling-v1-5) and on the restyle-only kling-v2-new.
IMAGE_2K_UNSUPPORTED = frozenset({"kling-v1", "kling-v1-5", "kling-v2-new"})
RESTYLE_ONLY_MODELS = frozenset({"kling-v2-new"})


# log 2026-04-23: native 4K (`mode: "4k"`) on kling-v3 text2video/image2video and kling-v3-omni omni-video; since
# 2026-06-17 also with a reference video (Appendix A #10, the newer entry wins).
FOUR_K_MODELS = ("kling-v3", "kling-v3-omni")
# Image capability map (§4.8): series output and 4K are Kling Image 3.0 Omni only; O1 stops at 2K.
SERIES_IMAGE_MODELS = ("kling-v3-omni",)
FOUR_K_IMAGE_MODELS = ("kling-v3-omni",)
SERIES_AMOUNTS = range(2, 10)
# §4.7: scenes retired and gone from the effects enum, and magic_match_tree, retired 2026-07-03 though still listed.
RETIRED_EFFECTS = frozenset(
    {
        "celebration",
        "c4d_cartoon",
        "kiss",
        "fight",
        "hug",
        "thumbs_up",
        "tiger_hug",
        "pet_lion",
        "3d_cartoon_1",
        "magic_match_tree",
    }
)
# log 2026-03-04: element binding is Motion Control 3.0's.
MOTION_ELEMENT_MODELS = ("kling-v3",)


def values(literal: object) -> tuple[str, ...]:
    """Return the strings a Literal type allows."""
    return tuple(str(v) for v in get_args(literal))

"""Body of the synchronous image recognition call (2026 reference §4.3)."""

from pydantic import ConfigDict

from .base import KlingModel
from .fields import ImageInput


class ImageRecognize(KlingModel):
    """Find the subject, head, face and clothing areas of an image (POST /v1/videos/image-recognize)."""

    model_config = ConfigDict(title="image-recognize")

    image: ImageInput

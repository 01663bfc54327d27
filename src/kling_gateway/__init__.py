"""Self-hosted gateway for Kling asynchronous video and image generation, with a sandbox of the Kling API."""

__version__ = "0.1.0"

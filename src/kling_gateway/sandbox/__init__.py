"""A faithful stand-in for the official Kling API, for demos, tests and integration without credits."""

from kling_gateway.sandbox.app import create_app
from kling_gateway.sandbox.config import Account, SandboxConfig

__all__ = ["Account", "SandboxConfig", "create_app"]

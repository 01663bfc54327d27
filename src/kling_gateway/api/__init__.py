"""The HTTP edge: authentication, paths, error bodies. No SQL and no upstream calls of its own."""

from kling_gateway.api.app import create_app

__all__ = ["create_app"]

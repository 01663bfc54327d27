"""Table-driven tests of the request schemas, one module per group of endpoints.

The combined tables below are every case of every module, in the item shapes the modules use; the tests that
every action is covered and the sandbox's validation tests (tests/integration/test_sandbox_validation.py) run
over them.
"""

from . import (
    test_edit_bodies,
    test_image2video_bodies,
    test_image_bodies,
    test_lipsync_bodies,
    test_omni_bodies,
    test_sync_calls,
    test_text2video_bodies,
)

_BODY_MODULES = (
    test_text2video_bodies,
    test_image2video_bodies,
    test_omni_bodies,
    test_edit_bodies,
    test_lipsync_bodies,
    test_image_bodies,
)

VALID = [case for module in _BODY_MODULES for case in module.VALID]
"""(family, action, body) of every accepted body."""
INVALID = [case for module in _BODY_MODULES for case in module.INVALID]
"""(family, action, body, fragments) of every refused body."""
SYNC_BAD = test_sync_calls.SYNC_BAD
"""(call, body, expected message) of every refused synchronous call."""

__all__ = ["INVALID", "SYNC_BAD", "VALID"]

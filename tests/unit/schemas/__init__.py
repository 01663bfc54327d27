"""Table-driven tests of the request schemas: the cases live in one `*_cases` module per group of endpoints.

The combined tables below are every case of every module; test_body_tables.py, the coverage tests of
test_errors_and_registry.py and the sandbox's validation tests (tests/integration/test_sandbox_validation.py)
all run over them.
"""

from . import (
    addition_cases,
    edit_cases,
    image2video_cases,
    image_cases,
    lipsync_cases,
    omni_cases,
    test_sync_calls,
    text2video_cases,
)

_BODY_MODULES = (
    text2video_cases,
    image2video_cases,
    omni_cases,
    edit_cases,
    lipsync_cases,
    image_cases,
    addition_cases,
)

VALID = [case for module in _BODY_MODULES for case in module.VALID]
"""(family, action, body) of every accepted body."""
INVALID = [case for module in _BODY_MODULES for case in module.INVALID]
"""(family, action, body, fragments) of every refused body."""
SYNC_BAD = test_sync_calls.SYNC_BAD
"""(call, body, expected message) of every refused synchronous call."""

__all__ = ["INVALID", "SYNC_BAD", "VALID"]

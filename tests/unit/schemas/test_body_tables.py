"""Every body of the tables is judged as its row says: accepted, or refused with a message naming the field."""

from typing import Any

import pytest

from kling_gateway.kling.schemas import ALL_V1_ACTIONS, Family, InvalidBody, parse_create_body

from . import INVALID, VALID

LEAKS = ("pydantic", "literal_error", "Input should", "Value error", "type=")
"""Wording of the validation library that must never reach a client."""


@pytest.mark.parametrize(("family", "action", "body"), VALID)
def test_valid_body_is_accepted(family: Family, action: str, body: dict[str, Any]) -> None:
    parsed = parse_create_body(family, action, body)

    assert isinstance(parsed, ALL_V1_ACTIONS[family, action].schema)


@pytest.mark.parametrize(("family", "action", "body", "fragments"), INVALID)
def test_invalid_body_is_refused_with_a_message_naming_the_field(
    family: Family, action: str, body: object, fragments: tuple[str, ...]
) -> None:
    with pytest.raises(InvalidBody) as caught:
        parse_create_body(family, action, body)

    message = caught.value.message
    assert str(caught.value) == message
    assert not [leak for leak in LEAKS if leak in message]
    for fragment in fragments:
        assert fragment in message

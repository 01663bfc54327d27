"""People's passwords are argon2id hashes at the library's recommended parameters, checked, and rehashed when those
parameters move on; a name nobody has costs a check all the same."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from argon2 import PasswordHasher

from kling_gateway import passwords
from kling_gateway.errors import InvalidRequest

pytestmark = pytest.mark.production_passwords

RECOMMENDED = "$argon2id$v=19$m=65536,t=3,p=4$"  # argon2-cffi's defaults, RFC 9106's low-memory choice
PASSWORD = "a few words make one"


@pytest.fixture(autouse=True)
def fresh_dummy_hash() -> Iterator[None]:
    """Make the hash unknown names are checked against with the production parameters, as a process would."""
    passwords._dummy_hash.cache_clear()
    yield
    passwords._dummy_hash.cache_clear()


def test_a_password_is_kept_as_an_argon2id_hash_that_checks_it() -> None:
    stored = passwords.hash_password(PASSWORD)
    assert stored.startswith(RECOMMENDED)
    assert PASSWORD not in stored
    assert passwords.verify(stored, PASSWORD) == passwords.Checked(matches=True)
    assert passwords.verify(stored, PASSWORD + "!") == passwords.Checked(matches=False)
    assert passwords.verify("not a hash", PASSWORD) == passwords.Checked(matches=False)


def test_a_hash_of_older_parameters_is_replaced_once_its_password_matches() -> None:
    older = PasswordHasher(time_cost=1, memory_cost=64, parallelism=1).hash(PASSWORD)
    checked = passwords.verify(older, PASSWORD)
    assert checked.matches
    assert checked.rehashed is not None
    assert checked.rehashed.startswith(RECOMMENDED)
    assert passwords.verify(checked.rehashed, PASSWORD) == passwords.Checked(matches=True)
    assert passwords.verify(older, "someone else's") == passwords.Checked(matches=False)


@pytest.mark.parametrize(
    ("password", "said"),
    [("short", "is 5 characters long; use at least 10"), ("x" * 1025, "longer than 1024 characters")],
)
def test_a_password_outside_the_rules_is_refused_saying_what_is_allowed(password: str, said: str) -> None:
    with pytest.raises(InvalidRequest, match=said):
        passwords.hash_password(password)


def test_a_name_nobody_has_is_checked_against_a_hash_as_costly_as_a_real_one() -> None:
    passwords.verify_nobody(PASSWORD)
    assert passwords._dummy_hash().startswith(RECOMMENDED)
    # Too long a password is never hashed whole, for a real name as for nobody.
    stored = passwords.hash_password(PASSWORD)
    assert passwords.verify(stored, "x" * 10_000) == passwords.Checked(matches=False)

"""Signing in to the console in a real browser: a wrong password refused, the overview, signing out, and a form
sent without its CSRF token refused."""

from __future__ import annotations

import pytest

from tests.browser.conftest import Visitor

pytestmark = pytest.mark.browser


def test_an_operator_signs_in_and_out(visitor: Visitor) -> None:
    page = visitor.page
    visitor.sign_in("root", "this is not the password")
    assert page.get_by_role("alert").inner_text().startswith("That name and password do not match")
    visitor.sign_in("root")
    assert page.get_by_role("heading", level=1).inner_text() == "Overview"
    assert "Signed in as root." in page.get_by_role("status").inner_text()
    forged = page.request.post(visitor.base_url + "/console/logout", form={"csrf_token": "not this session's"})
    assert forged.status == 403
    assert "Form refused" in forged.text()
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url("**/console/login")
    visitor.shot()
    assert "Signed out." in page.get_by_role("status").inner_text()
    visitor.goto("/console/")
    assert page.url.endswith("/console/login")

"""The customer portal in a real browser: a wrong password refused; a user signs in, sees their usage drawn, finds
their own task by each of its ids and watches its video, gets "not found" for another user's task by each of its
ids, issues a key (its secret shown once) and revokes it; and every page reads on a phone."""

from __future__ import annotations

import httpx
import pytest
from playwright.sync_api import Dialog

from tests.browser.conftest import Visitor
from tests.factories import store
from tests.gateway import USER_PASSWORD, RunningGateway
from tests.helpers import create, wait_until

pytestmark = pytest.mark.browser
T2V = "/kling/v1/videos/text2video"
PAGES = ("/portal/", "/portal/tasks", "/portal/keys", "/portal/ledger")


@pytest.fixture
def portal(web_gateway: RunningGateway) -> RunningGateway:
    """The web gateway, its users alice and bob with portal passwords."""
    for name in ("alice", "bob"):
        web_gateway.admin.portal_password(name)
    return web_gateway


@pytest.mark.slow  # about 6 s: a real task made and its video played, a key issued and revoked through the pages
def test_a_user_sees_their_own_tasks_and_usage_and_manages_keys(visitor: Visitor, portal: RunningGateway) -> None:
    page = visitor.page
    with httpx.Client(base_url=portal.url, headers={"Authorization": f"Bearer {portal.keys['alice']}"}) as alice:
        made = create(alice, T2V, {"prompt": "a heron at dawn", "duration": "5", "external_task_id": "heron-1"})
        done = wait_until(alice, f"{T2V}/{made['task_id']}")
    his = store(portal, "bob", age_ms=0, status="succeed", upstream_task_id="bobs-upstream", external_task_id="bobs")

    visitor.sign_in("alice", "not alice's password", area="/portal")
    assert page.get_by_role("alert").inner_text().startswith("That name and password do not match")
    visitor.sign_in("alice", USER_PASSWORD, area="/portal")
    assert page.get_by_role("heading", level=1).inner_text() == "Overview"
    charts = page.locator("svg.chart")
    assert charts.count() == 2
    assert charts.first.locator("rect").count() == 30  # a bar a day, for the last 30 days
    assert "1 task submitted" in page.locator("main").inner_text()

    visitor.goto("/portal/tasks")
    assert page.get_by_role("link", name=done["platform_id"]).is_visible()
    assert his.platform_id not in page.content()
    for reference in (done["task_id"], "heron-1", done["platform_id"]):
        visitor.goto("/portal/tasks")
        page.get_by_label("Any id").fill(reference)
        page.get_by_role("button", name="Find").click()
        page.wait_for_url(f"**/portal/tasks/{done['platform_id']}")
    page.wait_for_function("document.querySelector('video').readyState >= 4")
    assert page.locator("video").evaluate("v => v.duration") == pytest.approx(5, abs=0.5)
    visitor.shot("task")
    for reference in (his.platform_id, "bobs-upstream", "bobs"):
        visitor.goto(f"/portal/tasks/{reference}")
        assert page.get_by_role("heading", level=1).inner_text() == "Not found"
        assert f"There is no task '{reference}' here." in page.locator("main").inner_text()

    visitor.goto("/portal/keys")
    page.get_by_label("Name (to tell your keys apart; optional)").fill("laptop")
    page.get_by_role("button", name="Issue key").click()
    page.wait_for_load_state()
    visitor.shot("new-key")
    secret = page.locator("#secret").inner_text()
    assert secret.startswith("sk-")
    assert f"Authorization: Bearer {secret}" in page.locator(".command").first.inner_text()
    visitor.goto("/portal/keys")
    assert secret not in page.content()  # shown once, never again
    page.once("dialog", lambda dialog: dialog.accept() if isinstance(dialog, Dialog) else None)
    page.get_by_role("button", name=f"Revoke key {secret[:8]}…").click()
    page.wait_for_load_state()
    visitor.shot("revoked")
    assert "is revoked" in page.get_by_role("status").inner_text()
    with httpx.Client(base_url=portal.url, headers={"Authorization": f"Bearer {secret}"}) as revoked:
        assert revoked.get(T2V).status_code == 401
    visitor.goto("/portal/ledger")
    assert page.get_by_role("cell", name="hold").first.is_visible()


def test_the_portal_reads_on_a_phone(phone_visitor: Visitor, portal: RunningGateway) -> None:
    store(portal, "alice", age_ms=0, status="processing", external_task_id="a-rather-long-external-id-of-alice")
    page = phone_visitor.page
    phone_visitor.sign_in("alice", USER_PASSWORD, area="/portal")
    for path in (*PAGES, "/portal/tasks/a-rather-long-external-id-of-alice", "/portal/tasks/nobodys"):
        phone_visitor.goto(path)
        overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert overflow <= 1, f"{path} is wider than the phone by {overflow} px"

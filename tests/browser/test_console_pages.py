"""The console in a real browser: an operator adds a user, issues a key and adds a channel through the forms, a
task made with that key is found by each of its ids and its video plays, the usage charts are drawn, and the
pages read on a phone."""

from __future__ import annotations

import httpx
import pytest

from tests.browser.conftest import Visitor
from tests.gateway import RunningGateway
from tests.helpers import create, wait_until

pytestmark = pytest.mark.browser
T2V = "/kling/v1/videos/text2video"


@pytest.mark.slow  # about 8 s: a user, a key, a channel and a task made through the pages, a video played
@pytest.mark.both_backends
def test_an_operator_sets_up_a_user_and_watches_their_video(visitor: Visitor, web_gateway: RunningGateway) -> None:
    page = visitor.page
    visitor.sign_in("root")

    visitor.goto("/console/users")
    page.get_by_label("Name").fill("dora")
    page.get_by_label("Opening balance (yuan)").fill("50")
    page.get_by_role("button", name="Add user").click()
    page.wait_for_url("**/console/users/*")
    visitor.shot("user")
    assert "Created user dora." in page.get_by_role("status").inner_text()
    page.get_by_label("Name").last.fill("laptop")
    page.get_by_role("button", name="Issue key").click()
    page.wait_for_load_state()
    visitor.shot("new-key")
    secret = page.locator("#key-secret").inner_text()
    assert secret.startswith("sk-")

    visitor.goto("/console/channels/new")
    account = web_gateway.sandbox.config.accounts[1]
    page.get_by_label("Name").fill("second")
    page.get_by_label("Base URL").fill(web_gateway.sandbox.url)
    page.get_by_label("Access key").fill(account.access_key)
    page.get_by_label("Secret key").fill(account.secret_key)
    page.get_by_role("button", name="Add channel").click()
    page.wait_for_url("**/console/channels")
    visitor.shot("channels")
    assert page.get_by_role("row", name="second").is_visible()

    with httpx.Client(base_url=web_gateway.url, headers={"Authorization": f"Bearer {secret}"}, timeout=15) as dora:
        made = create(dora, T2V, {"prompt": "koi in a pond", "duration": "5", "external_task_id": "koi-1"})
        done = wait_until(dora, f"{T2V}/{made['task_id']}")
    for reference in (done["task_id"], "koi-1", done["platform_id"]):
        visitor.goto("/console/tasks")
        page.get_by_label("Any id").fill(reference)
        page.get_by_role("button", name="Find").click()
        page.wait_for_url(f"**/console/tasks/{done['platform_id']}")
    video = page.locator("video")
    page.wait_for_function("document.querySelector('video').readyState >= 4")
    assert video.evaluate("v => v.duration") == pytest.approx(5, abs=0.5)
    visitor.shot("task")

    visitor.goto("/console/usage")
    charts = page.locator("svg.chart")
    assert charts.count() == 7
    assert "Tasks per day, all users" in charts.first.locator("title").first.text_content()  # type: ignore[operator]
    visitor.goto("/console/audit")
    assert page.get_by_role("cell", name="channel.create").is_visible()


def test_the_console_reads_on_a_phone(phone_visitor: Visitor) -> None:
    page = phone_visitor.page
    phone_visitor.sign_in("root")
    for path in ("/console/", "/console/tasks", "/console/users", "/console/channels", "/console/usage"):
        phone_visitor.goto(path)
        overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert overflow <= 1, f"{path} is wider than the phone by {overflow} px"

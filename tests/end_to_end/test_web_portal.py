"""The customer portal in-process: a user sees only their own tasks, keys and money (another's task by any id is the
same "not found" as none), forms are refused without their CSRF token, a disabled user cannot sign in and their
sessions end, and bad filters are answered with what is allowed."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import func, select

from kling_gateway.store.models import API_KEYS, USERS
from tests.factories import Stored, store
from tests.gateway import USER_PASSWORD, GatewayFactory, RunningGateway
from tests.web import Browser, csrf_of, text_of

HOUR_MS = 3_600_000


def words(page: httpx.Response) -> str:
    """A page's words as a reader sees them: its markup gone, its entities read."""
    return html.unescape(text_of(page))


@pytest.fixture
def gw(gateway_factory: GatewayFactory) -> RunningGateway:
    gateway = gateway_factory(worker=False)
    for name in ("alice", "bob"):
        gateway.admin.portal_password(name)
    return gateway


@pytest.fixture
def alice(gw: RunningGateway) -> Iterator[Browser]:
    browser = Browser(gw)
    assert browser.sign_in("alice", USER_PASSWORD, area="/portal").url.path == "/portal/"
    yield browser
    browser.close()


def tasks_of(gw: RunningGateway) -> dict[str, Stored]:
    """A task of alice's and one of bob's, each answering to all three ids, and one of alice's in flight."""
    return {
        "alice": store(gw, "alice", age_ms=HOUR_MS, status="succeed", upstream_task_id="up-a", external_task_id="mine"),
        "alice-busy": store(gw, "alice", age_ms=0, status="processing", upstream_task_id="up-a2", model="kling-v1"),
        "bob": store(gw, "bob", age_ms=HOUR_MS, status="succeed", upstream_task_id="up-b", external_task_id="his"),
    }


def test_a_user_sees_only_their_own_tasks_and_anothers_by_any_id_is_not_found(
    gw: RunningGateway, alice: Browser
) -> None:
    stored = tasks_of(gw)
    own, busy, his = stored["alice"], stored["alice-busy"], stored["bob"]
    gallery = alice.get("/portal/tasks")
    assert gallery.status_code == 200
    assert own.platform_id in gallery.text
    assert busy.platform_id in gallery.text
    assert his.platform_id not in gallery.text
    assert f"/portal/tasks/{own.platform_id}/preview" in gallery.text  # a succeeded video plays in the page
    for reference in (own.platform_id, "up-a", "mine"):
        page = alice.get(f"/portal/tasks/{reference}")
        assert (page.status_code, own.platform_id in page.text) == (200, True)
        found = alice.get(f"/portal/tasks?q={reference}")
        assert found.url.path == f"/portal/tasks/{own.platform_id}"

    def not_found(path: str, reference: str) -> str:
        page = alice.get(path)
        assert page.status_code == 404, path
        # The page is the same for another's id as for one nobody has: only the id it repeats differs.
        return words(page).replace(repr(reference), "'…'")

    nobodys = not_found("/portal/tasks/video_01NOBODY0000000000000000", "video_01NOBODY0000000000000000")
    for reference in (his.platform_id, "up-b", "his"):
        assert not_found(f"/portal/tasks/{reference}", reference) == nobodys
        assert not_found(f"/portal/tasks?q={reference}", reference) == nobodys
        assert "There is no task '…' here." in nobodys
    assert "kling-gateway portal Overview Tasks Keys Ledger" in nobodys  # a page of the portal, its way out there
    assert not_found(f"/portal/tasks/{his.platform_id}/preview", his.platform_id) == nobodys
    assert not_found(f"/portal/tasks?before={his.platform_id}", his.platform_id) == nobodys

    filtered = alice.get("/portal/tasks?status=processing&model=kling-v1")
    assert busy.platform_id in filtered.text
    assert own.platform_id not in filtered.text
    none_yet = alice.get("/portal/tasks?from=2020-01-01&to=2020-01-31")
    assert "No tasks match these filters." in words(none_yet)
    for query, said in (
        ("status=done", "status='done' is not a task status; choose one of queued, submitted, processing"),
        ("from=yesterday", "from='yesterday' is not a day; give it as YYYY-MM-DD."),
        ("from=2026-02-01&to=2026-01-01", "to=2026-01-01 is before from=2026-02-01"),
    ):
        refused = alice.get(f"/portal/tasks?{query}")
        assert (refused.status_code, said in words(refused)) == (400, True), words(refused)


def test_keys_are_issued_with_their_secret_once_and_only_ones_own_are_revoked(
    gw: RunningGateway, alice: Browser
) -> None:
    issued = alice.submit("/portal/keys", "/portal/keys", {"name": "laptop"})
    assert issued.status_code == 201
    secret = re.search(r'<code id="secret">(sk-[^<]+)</code>', issued.text)
    assert secret is not None
    assert f"-H &#34;Authorization: Bearer {secret.group(1)}&#34;" in issued.text  # the curl lines carry it
    assert f"{gw.url}/kling/v1/videos/text2video" in issued.text
    listing = alice.get("/portal/keys")
    assert secret.group(1) not in listing.text
    assert secret.group(1)[:8] in listing.text
    with gw.http({"Authorization": f"Bearer {secret.group(1)}"}) as client:
        assert client.get("/kling/v1/videos/text2video").status_code == 200  # it works at once

    bob_key = gw.admin.key("bob").id
    for key_id in (bob_key, 999_999):
        refused = alice.submit("/portal/keys", f"/portal/keys/{key_id}/revoke")
        assert (refused.status_code, f"You have no key number {key_id}." in words(refused)) == (404, True)
    assert _active_keys(gw, "bob") == 2
    too_long = alice.submit("/portal/keys", "/portal/keys", {"name": "x" * 65})
    assert (too_long.status_code, "use up to 64 printable characters" in words(too_long)) == (400, True)

    own = re.findall(r'action="/portal/keys/(\d+)/revoke"', listing.text)
    assert len(own) == 2  # the key the gateway fixture issued, and the new one
    revoked = alice.submit("/portal/keys", f"/portal/keys/{own[-1]}/revoke")
    assert "is revoked" in words(revoked)
    assert _active_keys(gw, "alice") == 1


def test_forms_without_their_token_are_refused_and_change_nothing(gw: RunningGateway, alice: Browser) -> None:
    page = alice.get("/portal/keys")
    key_id = re.findall(r'action="/portal/keys/(\d+)/revoke"', page.text)[0]
    for action in ("/portal/keys", f"/portal/keys/{key_id}/revoke", "/portal/logout"):
        for data, headers in (
            ({}, {}),
            ({"csrf_token": "forged"}, {}),
            ({"csrf_token": csrf_of(page)}, {"Origin": "https://elsewhere.example"}),
        ):
            refused = alice.http.post(action, data=data, headers=headers)
            assert (refused.status_code, "Form refused" in words(refused)) == (403, True), (action, data)
    assert _active_keys(gw, "alice") == 1
    assert alice.get("/portal/").url.path == "/portal/"  # still signed in


def test_a_disabled_user_cannot_sign_in_and_their_session_ends(gw: RunningGateway, alice: Browser) -> None:
    assert "Balance" in words(alice.get("/portal/"))
    gw.admin.disable_user("alice")
    assert alice.get("/portal/tasks").url.path == "/portal/login"
    again = Browser(gw)
    refused = again.sign_in("alice", USER_PASSWORD, area="/portal")
    assert (refused.status_code, "do not match an account that may sign in" in words(refused)) == (401, True)
    gw.admin.disable_user("alice", disabled=False)
    assert again.sign_in("alice", USER_PASSWORD, area="/portal").url.path == "/portal/"
    gw.admin.portal_password("alice", "a brand new passphrase")  # a new password ends the session too
    assert again.get("/portal/").url.path == "/portal/login"
    assert again.sign_in("bob", "not bob's password", area="/portal").status_code == 401
    operator_cookie = Browser(gw)  # and a user's password is no operator's
    assert operator_cookie.sign_in("bob", USER_PASSWORD, area="/console").status_code == 401
    again.close()
    operator_cookie.close()


def test_the_overview_and_ledger_show_the_users_money_and_usage(gw: RunningGateway, alice: Browser) -> None:
    store(gw, "alice", age_ms=HOUR_MS, status="succeed", charge_micros=2_500_000, hold_micros=3_000_000)
    overview = alice.get("/portal/")
    assert "Balance ¥1000.00" in words(overview)
    assert overview.text.count("<svg") == 2
    assert "<rect" in overview.text
    assert "1 task submitted, ¥2.50 charged." in words(overview)
    assert alice.get("/portal/?days=7").status_code == 200
    assert alice.get("/portal/?days=8").status_code == 400
    ledger = alice.get("/portal/ledger")
    assert "initial balance" in words(ledger)
    assert "top up" in words(ledger)
    assert alice.get("/portal/ledger?before=x").status_code == 400
    assert alice.get("/portal").url.path == "/portal/"


def test_the_gallery_pages_through_every_task_once_and_a_request_is_shown_cut(
    gw: RunningGateway, alice: Browser
) -> None:
    picture = "iVBORw0KGgo" + "A" * 100_000  # a picture in Base64, as a request may carry one
    made = [
        store(gw, "alice", age_ms=number, status="queued", request_json=f'{{"image": "{picture}", "n": {number}}}')
        for number in range(30)
    ]
    first = alice.get("/portal/tasks")
    older = re.search(r'href="(/portal/tasks\?before=[^"]+)">Older tasks', first.text)
    assert older is not None
    second = alice.get(html.unescape(older.group(1)))
    shown = [re.findall(r'class="mono" href="/portal/tasks/(video_\w+)"', page.text) for page in (first, second)]
    assert [len(page) for page in shown] == [24, 6]
    assert shown[0] + shown[1] == [task.platform_id for task in reversed(made)]  # newest first, each once
    assert "Older tasks" not in second.text
    assert "Newest" in words(second)
    page = alice.get(f"/portal/tasks/{made[0].platform_id}")
    assert "… (100,011 characters)" in page.text
    assert len(page.text) < 20_000


def _active_keys(gw: RunningGateway, name: str) -> int:
    async def work(session: object) -> int:
        query = (
            select(func.count())
            .select_from(API_KEYS.join(USERS, USERS.c.id == API_KEYS.c.user_id))
            .where(USERS.c.name == name, API_KEYS.c.revoked_at.is_(None))
        )
        return int((await session.execute(query)).scalar_one())  # type: ignore[attr-defined]

    return gw.admin._run(work)

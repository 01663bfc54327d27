"""The console's pages in-process: every change an operator makes (users, money, prices, keys, channels) done,
refused with what was wrong, and written to the audit log; tasks found by any id, shown in full and their result
streamed through the gateway with a Range carried on; usage drawn as charts."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from kling_gateway.users import service as users_service
from kling_gateway.web import previews
from kling_gateway.web.pages import PageError
from tests.gateway import GatewayFactory, RunningGateway
from tests.helpers import create, wait_until
from tests.web import Browser, text_of

T2V = "/kling/v1/videos/text2video"


@pytest.fixture
def gw(gateway_factory: GatewayFactory) -> RunningGateway:
    gateway = gateway_factory()
    gateway.admin.operator("root")
    return gateway


@pytest.fixture
def ops(gw: RunningGateway) -> Iterator[Browser]:
    browser = Browser(gw)
    browser.sign_in("root")
    yield browser
    browser.close()


def user_path(ops: Browser, name: str) -> str:
    listing = ops.get("/console/users").text
    found = re.search(rf'href="(/console/users/\d+)">{name}<', listing)
    assert found is not None, f"no user {name} listed"
    return found.group(1)


@pytest.mark.both_backends
def test_an_operator_manages_users_keys_and_channels_and_each_change_is_audited(
    gw: RunningGateway, ops: Browser
) -> None:
    refused = ops.submit("/console/users", "/console/users", {"name": " padded ", "balance": "1"})
    assert "user name ' padded ' is not allowed" in text_of(refused)
    made = ops.submit("/console/users", "/console/users", {"name": "carol", "balance": "12.5"})
    assert "Created user carol." in text_of(made)
    carol = user_path(ops, "carol")
    topped = ops.submit(carol, f"{carol}/credits", {"amount": "7.5", "note": "invoice 7"})
    assert "Balance of carol is now 20.00 yuan." in text_of(topped)
    assert "not an amount of yuan" in text_of(ops.submit(carol, f"{carol}/credits", {"amount": "lots"}))
    priced = ops.submit(carol, f"{carol}/rates", {"video": "0.8", "image": "", "audio": "", "note": "pays late"})
    assert "Saved the prices and note of carol." in text_of(priced)
    assert "video 0.80, image 0.025, audio 1.00 yuan a credit" in text_of(priced)
    assert "carol is disabled" in text_of(ops.submit(carol, f"{carol}/disable"))
    assert "carol is enabled" in text_of(ops.submit(carol, f"{carol}/enable"))
    short = ops.submit(carol, f"{carol}/password", {"password": "short"})
    assert "the password is 5 characters long; use at least 10" in text_of(short)
    assert "carol can sign in to the portal with the new password." in text_of(
        ops.submit(carol, f"{carol}/password", {"password": "carol's first portal pass"})
    )
    carol_portal = Browser(gw)
    try:
        assert carol_portal.sign_in("carol", "carol's first portal pass", area="/portal").status_code == 200
        assert "Sign out" in carol_portal.get("/portal/").text
        reset = ops.submit(carol, f"{carol}/password", {"password": "carol's second portal pass"})
        assert "their other portal sessions have ended" in text_of(reset)
        assert "Sign out" not in carol_portal.get("/portal/").text  # the old session ended with the old password
    finally:
        carol_portal.close()

    issued = ops.submit(carol, f"{carol}/keys", {"name": "ci", "dialect": "video", "rps": "", "max_in_flight": "3"})
    secret = re.search(r'id="key-secret" class="mono">(sk-[^<]+)<', issued.text)
    assert secret is not None
    key_id = re.search(r"Issued key (\d+) for carol", text_of(issued))
    assert key_id is not None
    page = ops.get(carol)
    assert secret.group(1) not in page.text  # shown once, never again
    assert secret.group(1)[:8] in page.text
    with gw.http({"Authorization": f"Bearer {secret.group(1)}"}) as client:
        assert client.get(f"{T2V}?pageNum=1&pageSize=1").status_code == 200
    rotated = ops.submit(carol, f"{carol}/keys/{key_id.group(1)}/rotate")
    assert f"Replaced key {key_id.group(1)} with key" in text_of(rotated)
    new_id = re.search(r"with key (\d+) for carol", text_of(rotated))
    assert new_id is not None
    assert "Revoked key" in text_of(ops.submit(carol, f"{carol}/keys/{new_id.group(1)}/revoke"))

    bad = ops.submit(
        "/console/channels/new", "/console/channels", {"name": "beijing", "base_url": "ftp://x", "api_key": "k"}
    )
    assert bad.status_code == 400
    assert "must be http:// or https://" in text_of(bad)
    assert 'value="beijing"' in bad.text  # what was typed stays on the form
    account = gw.sandbox.config.accounts[1]
    added = ops.submit(
        "/console/channels/new",
        "/console/channels",
        {
            "name": "beijing",
            "base_url": gw.sandbox.url,
            "access_key": account.access_key,
            "secret_key": account.secret_key,
        },
    )
    assert "Added channel beijing." in text_of(added)
    channel = re.search(r'href="(/console/channels/\d+)">Edit</a>\s*<form[^>]*/channels/\d+/disable"', added.text)
    edit = re.findall(r'href="(/console/channels/\d+)">Edit', added.text)
    assert channel is not None or edit
    beijing = edit[-1] if channel is None else channel.group(1)
    one_half = ops.submit(beijing, beijing, {"base_url": gw.sandbox.url, "weight": "3", "access_key": "only-one"})
    assert "give the access key and the secret key together" in text_of(one_half)
    saved = ops.submit(beijing, beijing, {"base_url": gw.sandbox.url, "weight": "3", "video_concurrency": "7"})
    assert "Saved channel beijing." in text_of(saved)
    assert "video 0/7" in text_of(saved)
    assert "Channel beijing is disabled" in text_of(ops.submit("/console/channels", f"{beijing}/disable"))

    audit = text_of(ops.get("/console/audit"))
    for action in (
        "user.create",
        "user.top-up",
        "user.update",
        "user.disable",
        "user.enable",
        "user.password-set",
        "user.password-reset",
        "key.create",
        "key.rotate",
        "key.revoke",
        "channel.create",
        "channel.update",
        "channel.disable",
    ):
        assert f"root {action}" in audit, action
    assert account.secret_key not in ops.get("/console/audit").text


def test_a_task_is_found_by_any_id_and_its_result_streams_with_ranges(gw: RunningGateway, ops: Browser) -> None:
    with gw.client("alice") as alice:
        made = create(alice, T2V, {"prompt": "a lantern", "duration": "5", "external_task_id": "my-lantern"})
        done = wait_until(alice, f"{T2V}/{made['task_id']}")
    platform_id, task_id = done["platform_id"], done["task_id"]
    for reference in (platform_id, task_id, "my-lantern"):
        found = ops.get(f"/console/tasks?q={reference}")
        assert found.url.path == f"/console/tasks/{platform_id}", reference
    page = text_of(found)
    assert "succeed" in page
    assert "alice" in page
    assert 'preload="auto"' in found.text
    missing = ops.get("/console/tasks?q=no-such-id")
    assert "no task has the platform_id, task_id or external_task_id 'no-such-id'" in text_of(missing)
    listed = text_of(ops.get("/console/tasks?user=alice&status=succeed&action=videos/text2video&generation=legacy"))
    assert platform_id in listed
    assert "there is no user named 'nobody'" in text_of(ops.get("/console/tasks?user=nobody"))
    assert "not a date" in text_of(ops.get("/console/tasks?since=yesterday"))

    whole = ops.get(f"/console/tasks/{platform_id}/preview")
    assert (whole.status_code, whole.headers["content-type"]) == (200, "video/mp4")
    assert whole.content[4:8] == b"ftyp"
    part = ops.http.get(f"/console/tasks/{platform_id}/preview", headers={"Range": "bytes=0-99"})
    assert (part.status_code, len(part.content)) == (206, 100)
    assert part.headers["content-range"] == f"bytes 0-99/{len(whole.content)}"
    assert ops.get("/console/tasks/video_nobody/preview").status_code == 404

    async def as_bob() -> None:  # the portal's view: a user sees only their own tasks, others' are a plain 404
        assert gw.runtime is not None
        async with gw.runtime.db.session() as session:
            bob = await users_service.require_user(session, "bob")
            with pytest.raises(PageError, match="There is no task") as refused:
                await previews.find_visible(session, platform_id, user_id=bob.id)
            assert refused.value.status == 404
            assert (await previews.find_visible(session, platform_id, user_id=None)).user == "alice"

    gw.network.loop.run(as_bob())

    usage = ops.get("/console/usage?days=7")
    assert usage.text.count("<svg") == 7  # all tasks, then tasks and money by user, model and channel
    assert "<title" in usage.text
    assert "alice" in text_of(usage)
    assert ops.get("/console/usage?days=5").status_code == 400
    overview = text_of(ops.get("/console/"))
    assert "Succeeded, last hour 1" in overview

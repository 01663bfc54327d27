"""The sandbox's new generation over HTTP: model-in-path creates, API keys only, `/tasks` queries and listings."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import httpx
import orjson
import pytest
from standardwebhooks.webhooks import Webhook

from kling_gateway.kling.schemas import NEW_ACTIONS
from kling_gateway.sandbox import Account
from tests.conftest import CallbackReceiver, RunningSandbox, SandboxFactory
from tests.helpers import TEXT2VIDEO, SteppedClock, error_of, sign_jwt, wait_for

URL = "https://cdn.example.com/in/cat.png"
VIDEO_URL = "https://cdn.example.com/in/dance.mp4"
FIRST = {"type": "first_frame", "url": URL}
PROMPT = {"type": "prompt", "text": "a fox runs"}
CHARACTER = {"type": "image", "url": URL}
MOTION: dict[str, Any] = {
    "contents": [CHARACTER, {"type": "video", "url": VIDEO_URL}],
    "settings": {"character_orientation": "video"},
}
HOUR_S = 3600.0
DAY_S = 24 * HOUR_S
SECRET = "whsec_dGVzdHNlY3JldHRlc3RzZWNyZXR0ZXN0c2VjcmV0MTI="
KEY_ONLY = (
    "Authentication error. The current API does not support AK/SK; please go to the console "
    "(https://kling.ai/dev/api-key) to create API key."
)
# The smallest body of every endpoint, and what a second of its default output (720p, audio off) costs.
MINIMAL: dict[str, tuple[dict[str, Any], str]] = {
    "text-to-video/kling-3.0-turbo": ({"prompt": "a fox"}, "0.8"),
    "text-to-video/kling-3.0": ({"prompt": "a fox"}, "0.6"),
    "text-to-video/kling-2.6": ({"prompt": "a fox"}, "0.3"),
    "text-to-video/kling-2.5-turbo": ({"prompt": "a fox"}, "0.3"),
    "image-to-video/kling-3.0-turbo": ({"contents": [PROMPT, FIRST]}, "0.8"),
    "image-to-video/kling-3.0": ({"contents": [FIRST]}, "0.6"),
    "image-to-video/kling-2.6": ({"contents": [FIRST]}, "0.3"),
    "image-to-video/kling-2.5-turbo": ({"contents": [FIRST]}, "0.3"),
    "omni-video/kling-3.0-omni": ({"contents": [PROMPT]}, "0.6"),
    "omni-video/kling-o1": ({"contents": [PROMPT]}, "0.6"),
    "motion-control/kling-3.0": (MOTION, "0.9"),
    "motion-control/kling-2.6": (MOTION, "0.5"),
}


@pytest.fixture
def clock() -> SteppedClock:
    return SteppedClock()


@pytest.fixture
def sandbox(sandbox_factory: SandboxFactory, clock: SteppedClock) -> RunningSandbox:
    """A sandbox whose time moves only when the test moves it."""
    return sandbox_factory(clock=clock)


def keyed(sandbox: RunningSandbox, account: Account | None = None) -> httpx.Client:
    """Open a client that sends the account's static API key."""
    chosen = account or sandbox.account
    return sandbox.network.client(base_url=sandbox.url, headers={"Authorization": f"Bearer {chosen.api_key}"})


def create(client: httpx.Client, action: str, body: dict[str, Any]) -> dict[str, Any]:
    answer = client.post(f"/{action}", json=body)
    assert answer.status_code == 200, answer.text
    data: dict[str, Any] = answer.json()["data"]
    return data


def records(client: httpx.Client, query: str) -> list[dict[str, Any]]:
    answer = client.get(f"/tasks?{query}")
    assert answer.status_code == 200, answer.text
    found: list[dict[str, Any]] = answer.json()["data"]
    return found


def listing(client: httpx.Client, body: dict[str, Any]) -> dict[str, Any]:
    answer = client.post("/tasks", json=body)
    assert answer.status_code == 200, answer.text
    page: dict[str, Any] = answer.json()["data"]
    return page


@pytest.mark.parametrize("action", list(MINIMAL))
def test_every_endpoint_creates_a_task_that_succeeds_with_a_video_and_its_bill(
    sandbox: RunningSandbox, clock: SteppedClock, action: str
) -> None:
    body, per_second = MINIMAL[action]
    external_id = "x-" + action.replace("/", "-")
    with keyed(sandbox) as client:
        made = create(client, action, body | {"options": {"external_task_id": external_id}})
        assert made["status"] == "submitted"
        assert made["create_time"] == made["update_time"] == clock.ms
        assert made["external_id"] == external_id
        [waiting] = records(client, f"task_ids={made['id']}")
        assert (waiting["status"], waiting["outputs"], waiting["billing"]) == ("submitted", [], [])
        clock.advance(HOUR_S)
        [done] = records(client, f"external_task_ids={external_id}")
        assert done["status"] == "succeeded"
        assert (done["id"], done["message"], done["create_time"]) == (made["id"], "", made["create_time"])
        [video] = done["outputs"]
        assert set(video) == {"type", "id", "url", "duration"}  # no watermark_url unless asked for
        assert video["type"] == "video"
        seconds = Decimal(video["duration"])
        assert seconds == (5 if "motion" not in action else seconds.to_integral_value())
        assert seconds >= 3
        units = Decimal(per_second) * seconds
        assert done["billing"] == [{"charge_type": "unit", "amount": f"{units.normalize():f}", "package_type": "video"}]
        clip = client.get(video["url"])
        assert clip.status_code == 200
        assert clip.headers["content-type"] == "video/mp4"
        assert clip.content[4:8] == b"ftyp"


def test_a_watermark_is_made_only_when_options_ask_for_it(sandbox: RunningSandbox, clock: SteppedClock) -> None:
    with keyed(sandbox) as client:
        options = {"watermark_info": {"enabled": True}}
        made = create(client, "text-to-video/kling-3.0-turbo", {"prompt": "a fox", "options": options})
        clock.advance(HOUR_S)
        [video] = records(client, f"task_ids={made['id']}")[0]["outputs"]
        assert client.get(video["watermark_url"]).content[4:8] == b"ftyp"


def test_motion_control_follows_the_length_of_the_sandboxs_own_reference_video(
    sandbox: RunningSandbox, clock: SteppedClock
) -> None:
    with keyed(sandbox) as client:
        source = create(client, "text-to-video/kling-3.0", {"prompt": "a dance", "settings": {"duration": 12}})
        clock.advance(HOUR_S)
        [reference] = records(client, f"task_ids={source['id']}")[0]["outputs"]
        body = MOTION | {"contents": [CHARACTER, {"type": "video", "url": reference["url"]}]}
        made = create(client, "motion-control/kling-3.0", body)
        clock.advance(HOUR_S)
        [done] = records(client, f"task_ids={made['id']}")
        assert done["outputs"][0]["duration"] == reference["duration"] == "12.0"
        assert done["billing"][0]["amount"] == "10.8"  # 12 s at 0.9 a second
        # Facing the image's way, the reference video may be at most 10 s.
        too_long = body | {"settings": {"character_orientation": "image"}}
        status, code, message = error_of(client.post("/motion-control/kling-3.0", json=too_long))
    assert (status, code) == (400, 1201)
    assert "contents[1].url: video" in message
    assert "at most 10 s" in message


@pytest.mark.parametrize(
    ("action", "body", "fragment"),
    [
        ("text-to-video/kling-3.0-turbo", {"prompt": "a", "settings": {"duration": "5"}}, "settings.duration: must be"),
        ("text-to-video/kling-3.0", {"prompt": "a", "external_task_id": "e"}, "external_task_id: is not a top-level"),
        (
            "text-to-video/kling-2.6",
            {"prompt": "a", "settings": {"audio": "native"}},
            'needs settings.resolution "1080p"',
        ),
        ("text-to-video/kling-2.5-turbo", {"prompt": "a", "settings": {"duration": 3}}, "allowed values are 5, 10"),
        (
            "image-to-video/kling-3.0-turbo",
            {"contents": [FIRST, {"type": "last_frame", "url": URL}]},
            "contents[1].type",
        ),
        ("image-to-video/kling-3.0", {"contents": [PROMPT]}, 'needs exactly one "first_frame"'),
        (
            "image-to-video/kling-2.6",
            {"contents": [FIRST, {"type": "last_frame", "url": URL}]},
            '"1080p" on model kling-2.6',
        ),
        ("image-to-video/kling-2.5-turbo", {"contents": []}, "contents: must have at least 1 item"),
        ("omni-video/kling-3.0-omni", {"contents": [{"type": "base_video", "url": "AAAA"}]}, "contents[0].url"),
        ("omni-video/kling-o1", {"contents": [FIRST], "settings": {"duration": 4}}, "must be 5 or 10"),
        ("motion-control/kling-3.0", {"contents": MOTION["contents"]}, "settings.character_orientation: is required"),
        ("motion-control/kling-2.6", {**MOTION, "settings": {"character_orientation": "x"}}, "character_orientation"),
    ],
)
def test_an_invalid_body_is_refused_with_the_schemas_message(
    sandbox: RunningSandbox, action: str, body: dict[str, Any], fragment: str
) -> None:
    with keyed(sandbox) as client:
        status, code, message = error_of(client.post(f"/{action}", json=body))
        assert (status, code) == (400, 1201)
        assert fragment in message
        assert listing(client, {})["count"] == 0  # nothing was created


def test_unknown_models_and_products_are_not_found(sandbox: RunningSandbox) -> None:
    with keyed(sandbox) as client:
        status, code, message = error_of(client.post("/omni-video/kling-3.0", json={"contents": [PROMPT]}))
        assert (status, code) == (404, 1203)
        assert "its models are kling-3.0-omni, kling-o1" in message
        assert error_of(client.post("/audio-to-video/kling-3.0", json={}))[:2] == (404, 1203)
        assert error_of(client.get("/text-to-video/kling-3.0"))[:2] == (404, 1202)


@pytest.mark.parametrize("credential", ["jwt", "garbage"])
def test_the_new_generation_takes_api_keys_only(sandbox: RunningSandbox, credential: str) -> None:
    token = sign_jwt(sandbox.account) if credential == "jwt" else "not-a-key"
    with sandbox.client(token=token) as client:
        for answer in (
            client.post("/text-to-video/kling-3.0-turbo", json={"prompt": "a fox"}),
            client.get("/tasks?task_ids=0"),
            client.post("/tasks", json={}),
        ):
            assert error_of(answer) == (401, 1002, KEY_ONLY)


def test_one_api_key_works_on_both_generations(sandbox_factory: SandboxFactory) -> None:
    # What `kling-gateway sandbox --access-key … --secret-key … --api-key KEY` configures.
    account = Account(access_key="ak-cli", secret_key="sk-cli-" + "s" * 40, api_key="key-from-the-command-line")
    sandbox = sandbox_factory(accounts=(account,))
    with sandbox.client(token="key-from-the-command-line") as client:
        assert client.post(TEXT2VIDEO, json={"prompt": "a fox"}).status_code == 200
        assert client.post("/text-to-video/kling-2.6", json={"prompt": "a fox"}).status_code == 200
        assert client.get("/account/costs?start_time=0&end_time=1").status_code == 200
        assert len(records(client, "task_ids=" + ",".join(t.task_id for t in sandbox.state.tasks.all_tasks()))) == 2
    with sandbox.client(account) as jwt_client:  # a JWT still works on /v1
        assert jwt_client.post(TEXT2VIDEO, json={"prompt": "a fox"}).status_code == 200


def test_an_external_id_is_unique_across_both_generations(sandbox: RunningSandbox) -> None:
    with keyed(sandbox) as client:
        assert client.post(TEXT2VIDEO, json={"prompt": "a", "external_task_id": "order-1"}).status_code == 200
        units_before = sandbox.state.units.pending((sandbox.account.access_key, "video"), 0)
        body = {"prompt": "a", "options": {"external_task_id": "order-1"}}
        answer = client.post("/text-to-video/kling-3.0-turbo", json=body)
        assert error_of(answer) == (400, 1201, "External_task_id order-1 already exists")
        assert len(sandbox.state.tasks) == 1
        assert sandbox.state.units.pending((sandbox.account.access_key, "video"), 0) == units_before
        create(client, "text-to-video/kling-3.0-turbo", {"prompt": "a", "options": {"external_task_id": "order-2"}})
        legacy = client.post(TEXT2VIDEO, json={"prompt": "a", "external_task_id": "order-2"})
        assert error_of(legacy)[:2] == (400, 1201)
        assert len(sandbox.state.tasks) == 2
    with keyed(sandbox, sandbox.config.accounts[1]) as other:  # another account has its own ids
        create(other, "text-to-video/kling-3.0-turbo", {"prompt": "a", "options": {"external_task_id": "order-1"}})


def test_tasks_by_id_answers_in_the_order_asked_and_leaves_out_unknown_and_foreign_ids(
    sandbox: RunningSandbox,
) -> None:
    with keyed(sandbox) as client, keyed(sandbox, sandbox.config.accounts[1]) as other:
        ids = [create(client, "text-to-video/kling-2.6", {"prompt": f"fox {n}"})["id"] for n in range(3)]
        foreign = create(other, "text-to-video/kling-2.6", {"prompt": "not yours"})["id"]
        asked = [ids[2], "0", foreign, ids[0], ids[2], ids[1]]
        assert [record["id"] for record in records(client, "task_ids=" + ",".join(asked))] == [ids[2], ids[0], ids[1]]
        assert records(client, "task_ids=0") == []
        assert records(client, "external_task_ids=nobody,nothing") == []
        too_many = ",".join(str(n) for n in range(21))
        assert error_of(client.get(f"/tasks?task_ids={too_many}")) == (
            400,
            1201,
            "task_ids and external_task_ids cannot exceed 20 in total",
        )
        assert len(records(client, "task_ids=" + ",".join(str(n) for n in range(20)))) == 0
        both = error_of(client.get("/tasks?task_ids=1&external_task_ids=2"))
        neither = error_of(client.get("/tasks"))
        assert both[:2] == neither[:2] == (400, 1201)
        assert "not both" in both[2]
        assert "one of them is required" in neither[2]


def test_legacy_tasks_appear_in_tasks_reshaped(sandbox: RunningSandbox, clock: SteppedClock) -> None:
    with keyed(sandbox) as client:
        video = client.post(TEXT2VIDEO, json={"prompt": "a", "external_task_id": "old-1"}).json()["data"]["task_id"]
        audio = client.post("/v1/audio/text-to-audio", json={"prompt": "rain", "duration": 3}).json()["data"]["task_id"]
        voice_body = {"voice_name": "Narrator", "voice_url": "https://cdn.example.com/v.mp3"}
        voice = client.post("/v1/general/custom-voices", json=voice_body).json()["data"]["task_id"]
        clock.advance(HOUR_S)
        legacy = client.get(f"{TEXT2VIDEO}/{video}").json()["data"]
        by_id = {record["id"]: record for record in records(client, f"task_ids={video},{audio},{voice}")}
    made = by_id[video]
    assert (made["status"], made["external_id"], made["update_time"]) == ("succeeded", "old-1", legacy["updated_at"])
    assert made["outputs"] == [{"type": "video"} | legacy["task_result"]["videos"][0]]
    assert made["billing"] == [
        {"charge_type": "unit", "amount": legacy["final_unit_deduction"], "package_type": "video"}
    ]
    [track] = by_id[audio]["outputs"]
    assert track["type"] == "audio"
    assert {"id", "mp3_url", "wav_url", "mp3_duration", "wav_duration"} <= set(track)
    assert "url_mp3" not in track
    assert by_id[audio]["billing"][0]["package_type"] == "audio"
    [spoken] = by_id[voice]["outputs"]
    assert (spoken["type"], spoken["status"], spoken["name"]) == ("voice", "succeeded", "Narrator")


def test_listing_pages_newest_first_to_the_end(sandbox: RunningSandbox, clock: SteppedClock) -> None:
    with keyed(sandbox) as client:
        made = []
        for n in range(7):
            made.append(create(client, "text-to-video/kling-2.6", {"prompt": f"fox {n}"})["id"])
            clock.advance(1)
        seen, cursor, pages = [], None, 0
        while True:
            page = listing(client, {"limit": 3} | ({"cursor": cursor} if cursor else {}))
            pages += 1
            assert page["count"] == len(page["result"])
            seen += [record["id"] for record in page["result"]]
            if not page["has_more"]:
                assert page["next_cursor"] == ""
                break
            cursor = page["next_cursor"]
        assert (pages, seen) == (3, made[::-1])
        assert listing(client, {"limit": 7})["has_more"] is False


def test_listing_filters_by_status_and_product_type(sandbox: RunningSandbox, clock: SteppedClock) -> None:
    with keyed(sandbox) as client:
        done = create(client, "text-to-video/kling-2.6", {"prompt": "fox"})["id"]
        image = client.post("/v1/images/generations", json={"prompt": "a fox"}).json()["data"]["task_id"]
        clock.advance(HOUR_S)
        waiting = create(client, "text-to-video/kling-2.6", {"prompt": "fox"})["id"]

        def ids(*filters: tuple[str, list[str]]) -> list[str]:
            body = {"filters": [{"key": key, "values": values} for key, values in filters]}
            return [record["id"] for record in listing(client, body)["result"]]

        assert ids(("status", ["submitted"])) == [waiting]
        assert ids(("status", ["succeeded"])) == [image, done]
        assert ids(("product_type", ["image"])) == [image]
        assert ids(("product_type", ["video", "image"])) == [waiting, image, done]
        assert ids(("product_type", ["video"]), ("status", ["succeeded"])) == [done]
        assert ids(("product_type", ["try_on"])) == []


def test_listing_window_defaults_to_thirty_days_and_a_cursor_ignores_it(
    sandbox: RunningSandbox, clock: SteppedClock
) -> None:
    with keyed(sandbox) as client:
        old = create(client, "text-to-video/kling-2.6", {"prompt": "old"})
        clock.advance(31 * DAY_S)
        newer = [create(client, "text-to-video/kling-2.6", {"prompt": f"new {n}"}) for n in range(2)]
        assert [record["id"] for record in listing(client, {})["result"]] == [newer[1]["id"], newer[0]["id"]]
        window = {"start_time": str(old["create_time"]), "end_time": old["create_time"] + 1}  # string or number
        assert [record["id"] for record in listing(client, window)["result"]] == [old["id"]]
        everything = {"start_time": 0, "limit": 1}
        first = listing(client, everything)
        # Once a cursor is given, the window is not read again, not even a broken one.
        rest = listing(client, {"cursor": first["next_cursor"], "start_time": 5, "end_time": 1, "limit": 5})
        assert [record["id"] for record in rest["result"]] == [newer[0]["id"], old["id"]]


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"limit": 0}, "limit: must be a whole number between 1 and 500 (got 0)"),
        ({"limit": 501}, "limit: must be a whole number between 1 and 500"),
        ({"limit": "5"}, "limit: must be a whole number"),
        ({"start_time": 10, "end_time": 10}, "start_time: must be before end_time"),
        ({"end_time": "soon"}, "end_time: must be a Unix time in milliseconds"),
        ({"filters": [{"key": "model", "values": ["x"]}]}, 'filters[0].key: "model" is not allowed'),
        ({"filters": [{"key": "status", "values": ["succeed"]}]}, 'spells it "succeeded"'),
        ({"filters": [{"key": "product_type", "values": []}]}, "filters[0].values: must be a non-empty array"),
        ({"cursor": "nonsense"}, "cursor: is not a next_cursor this API gave"),
        ({"page": 2}, "page: is not a field of POST /tasks"),
    ],
)
def test_a_bad_listing_is_refused_naming_the_field(
    sandbox: RunningSandbox, body: dict[str, Any], fragment: str
) -> None:
    with keyed(sandbox) as client:
        status, code, message = error_of(client.post("/tasks", json=body))
    assert (status, code) == (400, 1201)
    assert fragment in message


def test_a_new_style_task_calls_back_in_the_new_shape_signed(
    sandbox_factory: SandboxFactory, callback_receiver: CallbackReceiver
) -> None:
    sandbox = sandbox_factory(webhook_secret=SECRET)
    options = {"callback_url": callback_receiver.url, "external_task_id": "cb-new"}
    with keyed(sandbox) as client:
        made = create(client, "text-to-video/kling-3.0-turbo", {"prompt": "a fox", "options": options})
    wait_for(lambda: len(callback_receiver.received) >= 3, "three callbacks")
    verifier = Webhook(SECRET)
    for headers, raw in callback_receiver.received:
        assert verifier.verify(raw, headers)["id"] == made["id"]
    posted = sorted((orjson.loads(raw) for _headers, raw in callback_receiver.received), key=lambda e: e["update_time"])
    assert [event["status"] for event in posted] == ["submitted", "processing", "succeeded"]
    assert all(set(event) == {*NEW_RECORD_FIELDS} for event in posted)
    assert posted[-1]["billing"] == [{"charge_type": "unit", "amount": "4", "package_type": "video"}]
    assert posted[-1]["external_id"] == "cb-new"


NEW_RECORD_FIELDS = ("id", "status", "message", "create_time", "update_time", "external_id", "outputs", "billing")


def test_every_registered_endpoint_has_a_minimal_body_here() -> None:
    assert set(MINIMAL) == set(NEW_ACTIONS)

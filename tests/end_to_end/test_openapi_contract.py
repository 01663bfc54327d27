"""The published OpenAPI document is the contract: every route is in it and the gateway answers as it says.

Schemathesis reads `/openapi.json` from a running gateway in front of the sandbox and sends what it generates,
valid and invalid, in every response format; each answer must be documented, in the documented content type
and body schema, and never a server error.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import httpx
import pytest

from kling_gateway.api.examples import CREATE_EXAMPLES
from kling_gateway.api.kling_routes import SERVED_ACTIONS
from kling_gateway.api.new_routes import PREFIXES as NEW_PREFIXES
from kling_gateway.api.openai_videos import DEFAULT_LIMIT, LIMIT_RANGE
from kling_gateway.kling.paths import DEFAULT_PAGE_SIZE, PAGE_NUM_RANGE, PAGE_SIZE_RANGE
from kling_gateway.kling.schemas import NEW_ACTIONS, ActionSpec, Family, parse_create_body
from kling_gateway.tasks.session_calls import PRESET_LISTS, RELAYED_CALLS
from tests.gateway import GatewayFactory, RunningGateway
from tests.helpers import wait_until

SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")
# Every check but two that do not apply to this API:
# - positive_data_acceptance wants every body valid by the schema accepted, but the Kling rules that span fields
#   (a prompt unless multi_shot, no pro mode on single-tier models, …) and those naming upstream state (a live
#   session, an earlier video of the account) are beyond JSON Schema: such bodies get a 400 naming the rule.
# - unsupported_method wants 405 for a method a path does not take; Kling's paths answer as Kling does, 404 with
#   code 1202 (KlingCode.INVALID_METHOD); the OpenAI-shaped ones answer 405 (tests/end_to_end/test_edge_answers.py).
EXCLUDED_CHECKS = ("positive_data_acceptance", "unsupported_method")
SEED = 20_240_601
MAX_EXAMPLES = 3  # per operation in the fuzzing and stateful phases; the coverage phase makes its own fixed set
SEEDED_ID_PROBABILITY = 0.5  # how often a generated task_id / video_id is one of the user's own tasks
RUN_TIMEOUT_S = 280  # about a minute on 2 cores
PREFIXES = ("/kling/v1", "/v1")
OPENAI_OPERATIONS = (
    ("POST", "/v1/videos"),
    ("GET", "/v1/videos"),
    ("GET", "/v1/videos/{video_id}"),
    ("GET", "/v1/videos/{video_id}/content"),
)
NEW_API_OPERATIONS = (("POST", "/v1/video/generations"), ("GET", "/v1/video/generations/{task_id}"))
POINT = {"x": 0.5, "y": 0.4}


def test_every_create_example_is_a_valid_body() -> None:
    assert CREATE_EXAMPLES.keys() == SERVED_ACTIONS.keys()
    for (family, action), body in CREATE_EXAMPLES.items():
        parse_create_body(family, action, body)


def test_the_document_lists_every_route_and_the_docs_page_answers(gateway_factory: GatewayFactory) -> None:
    gateway = gateway_factory(worker=False)
    with gateway.client(user="") as client:
        document = client.get("/openapi.json").json()
        docs = client.get("/docs")
    listed = {(method.upper(), path) for path, item in document["paths"].items() for method in item}
    kling = {
        (method, f"{prefix}/{spec.family}/{spec.action}{tail}")
        for prefix in PREFIXES
        for spec in SERVED_ACTIONS.values()
        for method, tail in (("POST", ""), ("GET", ""), ("GET", "/{task_id}"))
    }
    assert len(kling) == 21 * 2 * 3
    sessions = {("POST", f"{prefix}/{family}/{call}") for prefix in PREFIXES for family, call in RELAYED_CALLS}
    sessions |= {("GET", f"{prefix}/general/{listing}") for prefix in PREFIXES for listing in PRESET_LISTS}
    new = {("POST", f"{prefix}/{spec.action}") for prefix in NEW_PREFIXES for spec in NEW_ACTIONS.values()}
    new |= {(method, f"{prefix}/tasks") for prefix in NEW_PREFIXES for method in ("GET", "POST")}
    assert listed == kling | set(OPENAI_OPERATIONS) | set(NEW_API_OPERATIONS) | sessions | new
    assert docs.status_code == 200
    assert docs.headers["content-type"].startswith("text/html")
    assert "/openapi.json" in docs.text


def test_the_document_states_the_bounds_the_gateway_enforces(gateway_factory: GatewayFactory) -> None:
    gateway = gateway_factory(worker=False)
    with gateway.client(user="") as client:
        document = client.get("/openapi.json").json()
    paging = _parameters(document, "/v1/videos/text2video")
    assert (paging["pageNum"]["minimum"], paging["pageNum"]["maximum"]) == PAGE_NUM_RANGE
    assert (paging["pageSize"]["minimum"], paging["pageSize"]["maximum"]) == PAGE_SIZE_RANGE
    assert paging["pageSize"]["default"] == DEFAULT_PAGE_SIZE
    listing = _parameters(document, "/v1/videos")
    assert (listing["limit"]["minimum"], listing["limit"]["maximum"], listing["limit"]["default"]) == (
        *LIMIT_RANGE,
        DEFAULT_LIMIT,
    )
    # A refused parameter is a 400 in the caller's shape, as documented; FastAPI's 422 is never answered.
    statuses = {
        status
        for item in document["paths"].values()
        for operation in item.values()
        for status in operation["responses"]
    }
    assert "422" not in statuses
    assert "HTTPValidationError" not in document["components"]["schemas"]
    with gateway.client() as client:
        refused = client.get("/v1/videos", params={"limit": LIMIT_RANGE[1] + 1})
    assert refused.status_code == 400
    assert refused.json()["error"]["param"] == "limit"
    assert f"from {LIMIT_RANGE[0]} to {LIMIT_RANGE[1]}" in refused.json()["error"]["message"]


def _parameters(document: dict[str, Any], path: str) -> dict[str, dict[str, Any]]:
    return {parameter["name"]: parameter["schema"] for parameter in document["paths"][path]["get"]["parameters"]}


@pytest.mark.slow
@pytest.mark.timeout(RUN_TIMEOUT_S + 60)
def test_the_gateway_answers_as_its_openapi_document_says(gateway_factory: GatewayFactory, tmp_path: Path) -> None:
    # Some tasks fail upstream, so failed tasks are rendered too; the packs never run out.
    gateway = gateway_factory(sandbox={"failure_rate": 0.25, "resource_pack_units": 10**9}, listen=True)
    # The channel has both credentials, so the model-in-path routes reach the upstream too.
    gateway.admin.update_channel_credentials("sandbox-1", api_key=gateway.sandbox.account.api_key)
    key = gateway.admin.user("fuzzer", balance_yuan="100000000")
    with gateway.http({"Authorization": f"Bearer {key}"}) as client:
        seeded = seed_tasks(gateway, client)
    config = tmp_path / "schemathesis.toml"
    config.write_text(known_ids_config(seeded))
    command = [
        str(SCHEMATHESIS),
        "--no-color",
        "--config-file",
        str(config),
        "run",
        f"{gateway.url}/openapi.json",
        "--header",
        f"Authorization: Bearer {key}",
        "--checks",
        "all",
        "--exclude-checks",
        ",".join(EXCLUDED_CHECKS),
        "--max-examples",
        str(MAX_EXAMPLES),
        # The same cases every run: a fixed seed, and no failures replayed from an earlier run's database.
        "--seed",
        str(SEED),
        "--generation-database",
        "none",
        # Two workers keep the gateway busy while schemathesis generates cases and validates answers.
        "--workers",
        "2",
        "--request-timeout",
        "15",
    ]
    done = subprocess.run(command, capture_output=True, text=True, check=False, cwd=tmp_path, timeout=RUN_TIMEOUT_S)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Missing test data" not in done.stdout, "queries by id never reached a task:\n" + done.stdout


# -- known tasks, so that queries by id reach real tasks ------------------------------------------------------


def seed_tasks(gateway: RunningGateway, client: httpx.Client) -> dict[ActionSpec, list[str]]:
    """Create a task of every action through the gateway, wait for each to end; return each task's three ids."""
    source = finished_source_video(client)
    bodies = {key: dict(body) for key, body in CREATE_EXAMPLES.items()}
    bodies |= upstream_references(client, source)
    seeded: dict[ActionSpec, list[str]] = {}
    for number, (key, body) in enumerate(bodies.items()):
        spec, external_id = SERVED_ACTIONS[key], f"seed-{number}"
        path = f"/v1/{spec.family}/{spec.action}"
        created = client.post(path, json=body | {"external_task_id": external_id})
        assert created.status_code == 200, created.text
        done = wait_until(client, f"{path}/{created.json()['data']['platform_id']}")
        seeded[spec] = [done["platform_id"], done["task_id"], external_id]
    return seeded


def finished_source_video(client: httpx.Client) -> str:
    """Make a text2video task succeed (the sandbox fails some); return the upstream id of its video."""
    path = f"/v1/{Family.VIDEOS}/text2video"
    for _attempt in range(20):
        created = client.post(path, json=CREATE_EXAMPLES[Family.VIDEOS, "text2video"])
        assert created.status_code == 200, created.text
        done = wait_until(client, f"{path}/{created.json()['data']['platform_id']}")
        if done["task_status"] == "succeed":
            return str(done["task_result"]["videos"][0]["id"])
    raise AssertionError("no text2video task succeeded in 20 attempts")


def upstream_references(client: httpx.Client, video_id: str) -> dict[tuple[Family, str], dict[str, Any]]:
    """Bodies of the actions that edit an earlier video, naming the source video and sessions opened on it
    through the gateway (which then sends the edits to the channel owning them)."""
    selection = session_call(client, "multi-elements/init-selection", {"video_id": video_id})["session_id"]
    session_call(client, "multi-elements/add-selection", {"session_id": selection, "frame_index": 0, "points": [POINT]})
    faces = session_call(client, "identify-face", {"video_id": video_id})
    examples = CREATE_EXAMPLES
    lip_sync = examples[Family.VIDEOS, "lip-sync"]
    advanced = examples[Family.VIDEOS, "advanced-lip-sync"]
    return {
        (Family.VIDEOS, "video-extend"): {"video_id": video_id},
        (Family.VIDEOS, "lip-sync"): {"input": lip_sync["input"] | {"video_id": video_id}},
        (Family.VIDEOS, "multi-elements"): examples[Family.VIDEOS, "multi-elements"] | {"session_id": selection},
        (Family.VIDEOS, "advanced-lip-sync"): advanced
        | {
            "session_id": faces["session_id"],
            "face_choose": [advanced["face_choose"][0] | {"face_id": faces["face_data"][0]["face_id"]}],
        },
    }


def session_call(client: httpx.Client, call: str, body: dict[str, Any]) -> dict[str, Any]:
    """Make one of Kling's synchronous helper calls through the gateway; return its `data`."""
    answer = client.post(f"/v1/videos/{call}", json=body)
    assert answer.status_code == 200, answer.text
    data: dict[str, Any] = answer.json()["data"]
    return data


def known_ids_config(seeded: dict[ActionSpec, list[str]]) -> str:
    """Write a schemathesis.toml that often uses the seeded ids for the `task_id` and `video_id` path parameters."""
    video_ids = [reference for spec, ids in seeded.items() if spec.family is Family.VIDEOS for reference in ids]
    lines: list[str] = []
    for spec, ids in seeded.items():
        name = _dictionary_name(spec)
        lines += _dictionary(name, ids)
        operations = [f"get_{where}_{name}" for where in ("kling", "v1")]
        lines += _operations(operations, "task_id", name)
    lines += _dictionary("videos", video_ids)
    lines += _operations(["openai_retrieve_video", "openai_video_content"], "video_id", "videos")
    lines += _operations(["newapi_get_video_generation"], "task_id", "videos")
    # /kling/v1/… and /v1/… are the same handlers under two prefixes, and the coverage phase's cases are fixed by
    # the schema: on /kling/v1/… they would repeat those on /v1/… request for request, for a third of the run
    # time. Every other phase, with its own random cases, runs on both prefixes.
    lines += ["[[operations]]", 'include-path-regex = "^/kling/"', "phases.coverage.enabled = false", ""]
    # A method a path does not take is answered in the path's own shape (see EXCLUDED_CHECKS) and tested on its
    # own; sent to every operation here it would be a quarter of the run's cases.
    return "\n".join(["phases.coverage.unexpected-methods = []", "", *lines]) + "\n"


def _dictionary_name(spec: ActionSpec) -> str:
    return f"{spec.family}_{spec.action}".replace("/", "_").replace("-", "_")


def _dictionary(name: str, values: Iterable[str]) -> list[str]:
    return [f"[dictionaries.{name}]", f"values = {json.dumps(list(values))}", ""]


def _operations(operation_ids: list[str], parameter: str, dictionary: str) -> list[str]:
    binding = f'{{ dictionary = "{dictionary}", probability = {SEEDED_ID_PROBABILITY} }}'
    return [
        "[[operations]]",
        f"include-operation-id = {json.dumps(operation_ids)}",
        f'parameters = {{ "path.{parameter}" = {binding} }}',
        "",
    ]

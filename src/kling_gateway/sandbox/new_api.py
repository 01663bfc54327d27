"""The sandbox's new generation (reference 2026 §3): `POST /{product}/{model}`, `GET /tasks` and `POST /tasks`.

New-style tasks run on the same store, timelines, slots and packs as legacy ones; only their paths, their
credential (an API key, never a JWT) and the shape of their records differ. `/tasks` shows every async task of
the account, legacy ones re-shaped, as the real service does.
"""

from __future__ import annotations

import base64
import binascii
import itertools
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from kling_gateway.kling import outputs
from kling_gateway.kling.codes import SERVER_FAULTS, KlingCode
from kling_gateway.kling.schemas import NEW_ACTIONS, Generation, InvalidBody, new_models, parse_body
from kling_gateway.kling.task_queries import Listing, read_id_query, read_listing
from kling_gateway.sandbox import wire
from kling_gateway.sandbox.callbacks import CallbackDispatcher
from kling_gateway.sandbox.config import Account, Now
from kling_gateway.sandbox.deductions import billing_entries, task_deduction
from kling_gateway.sandbox.errors import SandboxError
from kling_gateway.sandbox.lifecycle import TaskStatus
from kling_gateway.sandbox.service import Sandbox
from kling_gateway.sandbox.store import SandboxTask

Handler = Callable[[Request, Account], Awaitable[Response]]
Endpoint = Callable[[Request], Awaitable[Response]]
Wrap = Callable[[Handler], Endpoint]

PRODUCTS = tuple(dict.fromkeys(action.partition("/")[0] for action in NEW_ACTIONS))
_CURSOR_PREFIX = "t1."


def task_record(task: SandboxTask, now_ms: int) -> dict[str, Any]:
    """Render any task, of either generation, as a `/tasks` record (and a new-style callback body) at a moment."""
    return outputs.record_of(wire.task_object(task, now_ms), task_billing(task))


def task_billing(task: SandboxTask) -> list[dict[str, str]]:
    """Render what a task takes when it succeeds as `billing[]`: the one place these entries are made."""
    return billing_entries(task_deduction(task))


def callback_body(task: SandboxTask, now_ms: int) -> dict[str, Any]:
    """Render a callback in the shape of the generation that created the task."""
    if task.spec.generation is Generation.NEW:
        return task_record(task, now_ms)
    return wire.task_object(task, now_ms)


def created(task: SandboxTask) -> dict[str, Any]:
    """Render the `data` of a new-style create answer."""
    return {
        "id": task.task_id,
        "status": TaskStatus.SUBMITTED.value,
        "create_time": task.timeline.created_ms,
        "update_time": task.timeline.created_ms,
        "external_id": task.body.external_task_id or "",
    }


class NewGenerationApi:
    """Serve the new generation's endpoints on top of the sandbox the legacy ones use."""

    def __init__(
        self,
        sandbox: Sandbox,
        dispatcher: CallbackDispatcher,
        *,
        clock: Now,
        base_url: Callable[[Request], str],
    ) -> None:
        self._sandbox = sandbox
        self._dispatcher = dispatcher
        self._clock = clock
        self._base_url = base_url

    def routes(self, wrap: Wrap) -> list[Route]:
        """List the create path of every product and the two `/tasks` endpoints, each wrapped by `wrap`."""
        creates = [
            Route(f"/{product}/{{model}}", wrap(self._creator(product)), methods=["POST"]) for product in PRODUCTS
        ]
        return [
            *creates,
            Route("/tasks", wrap(self.by_ids), methods=["GET"]),
            Route("/tasks", wrap(self.listing), methods=["POST"]),
        ]

    def _creator(self, product: str) -> Handler:
        async def create(request: Request, account: Account) -> Response:
            return await self.create(request, account, product)

        return create

    async def create(self, request: Request, account: Account, product: str) -> Response:
        """Create a task of the new generation."""
        model = request.path_params["model"]
        spec = NEW_ACTIONS.get(f"{product}/{model}")
        if spec is None:
            raise SandboxError(
                KlingCode.RESOURCE_NOT_FOUND,
                f"model {model!r} does not exist on /{product}; its models are {', '.join(new_models(product))}",
            )
        body = parse_body(spec.schema, await _json_body(request))
        external_id = body.external_task_id
        if external_id is not None and self._sandbox.tasks.find_external(account.access_key, external_id):
            # §2.2 [obs]: nothing is created, charged or slotted; legacy and new tasks share the namespace.
            raise SandboxError(KlingCode.ILLEGAL_VALUE, f"External_task_id {external_id} already exists")
        task = self._sandbox.create_task(
            account.access_key, spec, body, base_url=self._base_url(request), now_ms=self._clock()
        )
        if body.callback_url is not None:
            self._dispatcher.schedule(task)
        rng, config = self._sandbox.rng, self._sandbox.config
        if config.lost_response_rate and rng.random() < config.lost_response_rate:
            return wire.error(rng.choice(SERVER_FAULTS))
        return wire.ok(created(task))

    async def by_ids(self, request: Request, account: Account) -> Response:
        """Answer `GET /tasks?task_ids=…` or `?external_task_ids=…`: the account's tasks among them, in order."""
        query = read_id_query(request.query_params)
        tasks, now = self._sandbox.tasks, self._clock()
        found = []
        for reference in query.ids:
            if query.kind == "task_ids":
                task = tasks.task_by_id(reference)
            else:
                task = tasks.find_external(account.access_key, reference)
            if task is not None and task.account == account.access_key:
                found.append(task_record(task, now))
        return wire.ok(found)

    async def listing(self, request: Request, account: Account) -> Response:
        """Answer `POST /tasks`: one page of the account's tasks, newest first, and the cursor of the next."""
        now = self._clock()
        asked = read_listing(await _json_body(request, empty={}), now_ms=now)
        before_seq, start_ms, end_ms = _bounds(asked)
        matches = (
            (seq, task)
            for seq, task in self._sandbox.tasks.listing.newest_first(
                account.access_key,
                product_types=asked.product_types,
                before_seq=before_seq,
                start_ms=start_ms,
                end_ms=end_ms,
            )
            if asked.statuses is None or _status(task, now) in asked.statuses
        )
        page = list(itertools.islice(matches, asked.limit))
        has_more = len(page) == asked.limit and next(matches, None) is not None
        return wire.ok(
            {
                "result": [task_record(task, now) for _seq, task in page],
                "count": len(page),
                "next_cursor": _cursor(page[-1][0], start_ms) if has_more else "",
                "has_more": has_more,
            }
        )


def _status(task: SandboxTask, now_ms: int) -> str:
    return outputs.new_status(task.status_at(now_ms)[0].value)


def _bounds(asked: Listing) -> tuple[int | None, int, int]:
    """Return the sequence bound and the window of a page: a cursor carries them instead of the request's times."""
    if asked.cursor is None:
        return None, asked.start_ms, asked.end_ms
    before_seq, start_ms = _read_cursor(asked.cursor)
    return before_seq, start_ms, 2**63


def _cursor(last_seq: int, start_ms: int) -> str:
    return _CURSOR_PREFIX + base64.urlsafe_b64encode(f"{last_seq}:{start_ms}".encode()).decode().rstrip("=")


def _read_cursor(cursor: str) -> tuple[int, int]:
    try:
        if not cursor.startswith(_CURSOR_PREFIX):
            raise ValueError(cursor)
        raw = cursor.removeprefix(_CURSOR_PREFIX)
        seq, _, start = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)).decode().partition(":")
        return int(seq), int(start)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise InvalidBody("cursor: is not a next_cursor this API gave; leave it out to start from the newest") from None


async def _json_body(request: Request, empty: Any = None) -> Any:
    raw = await request.body()
    if not raw.strip() and empty is not None:
        return empty
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as error:
        raise SandboxError(KlingCode.ILLEGAL_VALUE, f"request body is not valid JSON ({error})") from None

"""Read what a gateway's channels hold upstream: every task of their legacy lists and of the new generation's `/tasks`.

The legacy lists (`GET /v1/{family}/{action}?pageNum=&pageSize=500`) are signed with a channel's key pair; `POST
/tasks` (cursor pages) takes its API key and shows legacy tasks too, so tasks are keyed by their id and a task both
show is kept once. Statuses are spelled the legacy way (`succeed`) whichever list showed them.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

import httpx
import jwt
import orjson

from kling_gateway.billing.money import cost_micros
from kling_gateway.kling.outputs import legacy_status
from kling_gateway.kling.schemas import Generation

FINAL = frozenset({"succeed", "failed"})
PAGE_SIZE = 500  # the most the official list endpoint gives per page
MAX_PAGE_NUM = 1000  # the official list endpoint's last page
LIST_TRIES = 30  # attempts at one page while the upstream answers 5xx or drops the connection
LIST_RETRY_PAUSE_S = 0.1
SETTLE_PAUSE_S = 0.5  # between two readings of the upstream while its last tasks finish
TOKEN_TTL_S = 1800
TASKS_PATH = "/tasks"  # the new generation's listing of every task of an account, both generations'


@dataclass(frozen=True)
class UpstreamAccount:
    """A channel's account, as the database names it: where to list its tasks, and the credentials to list with."""

    name: str
    base_url: str
    access_key: str | None
    secret_key: str | None
    api_key: str | None  # what /tasks takes; a channel without one has no new-style tasks to list

    def key_pair(self) -> tuple[str, str] | None:
        """Return the access key and secret key that sign the legacy lists, when the channel has both."""
        if self.access_key is None or self.secret_key is None:
            return None
        return self.access_key, self.secret_key


@dataclass(frozen=True)
class UpstreamTask:
    """One task as a channel's list shows it: a legacy list (its final_unit_deduction) or /tasks (its billing[])."""

    channel: str
    family: str
    action: str  # the legacy list it was found in, or TASKS_PATH
    task_id: str
    external_task_id: str | None
    status: str  # in the legacy spelling (`succeed`), whichever list showed it
    final_unit_deduction: str | None
    billing: tuple[dict[str, Any], ...] | None = None  # None: seen in a legacy list, which has no billing[]

    def deduction(self) -> str:
        """Say what the task deducted, as its list shows it ("" when nothing)."""
        if self.billing is None:
            return f"{self.final_unit_deduction} credits" if self.final_unit_deduction else ""
        return ", ".join(f"{entry.get('amount')} {entry.get('package_type')} credits" for entry in self._unit_entries())

    def worth_micros(self, row: Any) -> int:
        """Price what the task deducted at its gateway task's rates: credits × the rate of their package."""
        if self.billing is None:
            return cost_micros(units(self.final_unit_deduction), row.rate_micros)
        rates = package_rates(row)
        return sum(
            cost_micros(units(entry.get("amount")), rates.get(str(entry.get("package_type")), row.rate_micros))
            for entry in self._unit_entries()
        )

    def describe(self) -> str:
        deducted = f", deducted {self.deduction()}" if self.deduction() else ""
        return f"{self.channel}/{self.action} task {self.task_id} {self.status}{deducted}"

    def _unit_entries(self) -> list[dict[str, Any]]:
        return [entry for entry in self.billing or () if entry.get("charge_type") == "unit"]


def package_rates(row: Any) -> dict[str, int]:
    """µ¥ per credit of each package of a new-style gateway task, from its `rates_json`; empty for a legacy task
    or a `{}`, whose credits of any package cost its one `rate_micros`."""
    if row.generation != Generation.NEW.value:
        return {}
    try:
        stored = orjson.loads(row.rates_json or "{}")
    except orjson.JSONDecodeError:
        return {}
    if not isinstance(stored, dict):
        return {}
    return {str(name): rate for name, rate in stored.items() if isinstance(rate, int) and not isinstance(rate, bool)}


def units(value: object) -> Decimal:
    """Read a deduction's credits; anything but a finite positive figure is none."""
    if value is None or isinstance(value, bool):
        return Decimal(0)
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        return Decimal(0)
    return amount if amount.is_finite() and amount > 0 else Decimal(0)


def _token(access_key: str, secret_key: str) -> str:
    now = int(time.time())
    claims = {"iss": access_key, "exp": now + TOKEN_TTL_S, "nbf": now - 5}
    return jwt.encode(claims, secret_key, algorithm="HS256", headers={"typ": "JWT"})


async def _call(http: httpx.AsyncClient, channel: UpstreamAccount, request: httpx.Request, what: str) -> Any:
    """Send one list request and return its `data`, retrying while the upstream answers 5xx or drops the
    connection."""
    problem = ""
    for _ in range(LIST_TRIES):
        try:
            answer = await http.send(request)
        except httpx.TransportError as error:
            problem = repr(error)
        else:
            if answer.status_code < 500:
                body = answer.json()
                if answer.status_code != 200 or body.get("code") != 0:
                    raise RuntimeError(f"{channel.name} refused {what}: {answer.status_code} {answer.text}")
                return body["data"]
            problem = f"HTTP {answer.status_code}"
        await asyncio.sleep(LIST_RETRY_PAUSE_S)
    raise RuntimeError(f"{channel.name} did not answer {what} in {LIST_TRIES} tries: {problem}")


async def _list_action(
    http: httpx.AsyncClient, channel: UpstreamAccount, key_pair: tuple[str, str], family: str, action: str
) -> list[UpstreamTask]:
    """List one legacy action's tasks page by page."""
    path = f"/v1/{family}/{action}"
    found: dict[str, UpstreamTask] = {}  # by task id: a task that moved pages between two reads is counted once
    for page_num in range(1, MAX_PAGE_NUM + 1):
        request = http.build_request(
            "GET",
            f"{channel.base_url}{path}",
            params={"pageNum": page_num, "pageSize": PAGE_SIZE},
            headers={"Authorization": f"Bearer {_token(*key_pair)}"},
        )
        page: list[dict[str, Any]] = await _call(http, channel, request, f"the list {path} page {page_num}")
        for item in page:
            info = item.get("task_info") or {}
            external = info.get("external_task_id")
            deduction = item.get("final_unit_deduction")
            found[item["task_id"]] = UpstreamTask(
                channel=channel.name,
                family=family,
                action=action,
                task_id=str(item["task_id"]),
                external_task_id=external if isinstance(external, str) else None,
                status=str(item["task_status"]),
                final_unit_deduction=None if deduction is None else str(deduction),
            )
        if len(page) < PAGE_SIZE:
            break
    return list(found.values())


async def _list_records(
    http: httpx.AsyncClient, channel: UpstreamAccount, api_key: str, window: tuple[int, int]
) -> list[UpstreamTask]:
    """List every task of the account that `POST /tasks` shows in the window, following its cursor to the end."""
    found: dict[str, UpstreamTask] = {}
    query: dict[str, Any] = {"limit": PAGE_SIZE, "start_time": window[0], "end_time": window[1]}
    for page_num in range(1, MAX_PAGE_NUM + 1):
        request = http.build_request(
            "POST", f"{channel.base_url}{TASKS_PATH}", json=query, headers={"Authorization": f"Bearer {api_key}"}
        )
        page: dict[str, Any] = await _call(http, channel, request, f"POST {TASKS_PATH} page {page_num}")
        for record in page["result"]:
            found[str(record["id"])] = _from_record(channel, record)
        if not page.get("has_more"):
            break
        query = {"limit": PAGE_SIZE, "cursor": page["next_cursor"]}
    return list(found.values())


def _from_record(channel: UpstreamAccount, record: dict[str, Any]) -> UpstreamTask:
    """Read a `/tasks` record, its status spelled the legacy way so both lists compare alike."""
    billing = record.get("billing") or []
    return UpstreamTask(
        channel=channel.name,
        family="",
        action=TASKS_PATH,
        task_id=str(record["id"]),
        external_task_id=record.get("external_id") or None,
        status=legacy_status(str(record.get("status", ""))),
        final_unit_deduction=None,
        billing=tuple(entry for entry in billing if isinstance(entry, dict)),
    )


async def _read_once(
    http: httpx.AsyncClient,
    accounts: Sequence[UpstreamAccount],
    actions: Sequence[tuple[str, str]],
    window: tuple[int, int],
) -> list[UpstreamTask]:
    """Read every list of every account once; a task both kinds of list show is kept once, as a legacy list
    shows it (with its action)."""
    reads = [
        _list_records(http, channel, channel.api_key, window) for channel in accounts if channel.api_key is not None
    ]
    for channel in accounts:
        key_pair = channel.key_pair()
        if key_pair is not None:
            reads += [_list_action(http, channel, key_pair, family, action) for family, action in actions]
    by_id: dict[str, UpstreamTask] = {}
    for part in await asyncio.gather(*reads):  # the /tasks reads come first, so a legacy list's view wins
        by_id.update((task.task_id, task) for task in part)
    return list(by_id.values())


async def read_upstream(
    channels: Sequence[UpstreamAccount],
    actions: Iterable[tuple[str, str]],
    *,
    window: tuple[int, int],
    settle_s: float = 0.0,
) -> list[UpstreamTask]:
    """List every task of the given legacy actions, and every task `/tasks` shows in `window` (ms), on every
    channel; read again while some are unfinished, up to `settle_s`, so that a task still running upstream when
    the gateway stopped is seen with its outcome."""
    accounts = list({(channel.base_url, channel.access_key, channel.api_key): channel for channel in channels}.values())
    wanted = sorted(set(actions))
    deadline = time.monotonic() + settle_s
    async with httpx.AsyncClient(timeout=30) as http:
        while True:
            tasks = await _read_once(http, accounts, wanted, window)
            if all(task.status in FINAL for task in tasks) or time.monotonic() >= deadline:
                return tasks
            await asyncio.sleep(SETTLE_PAUSE_S)

"""The model catalog as the operator sees and changes it, and as a submit consults it: a retired or disabled
model is refused before anything is held or sent; a model the operator added is validated and priced as the
model it is like, and sent upstream under its own name."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from enum import StrEnum

from sqlalchemy.ext.asyncio import AsyncSession

from kling_gateway.catalog import repository
from kling_gateway.catalog.known import MODEL_FIELD, known_models, models_of, path_model
from kling_gateway.catalog.repository import ModelRow
from kling_gateway.clock import Clock, SystemClock
from kling_gateway.errors import InvalidRequest
from kling_gateway.kling.schemas import NEW_ACTIONS, ActionSpec, Generation
from kling_gateway.settings import Settings
from kling_gateway.store.database import Database

# Kling's own wording (2026 reference §1 [obs]), so clients written against Kling read the same answer.
RETIRED_MESSAGE = "The model '{model}' has been discontinued and is no longer available."
MODEL_NAME = re.compile(r"[a-z0-9][a-z0-9.\-]{0,63}")  # as Kling spells its models: kling-v2-6, kling-3.0-omni
NESTED_MODEL_FIELD = "input"  # effects name their model inside `input`


class ModelState(StrEnum):
    """Whether a submit naming the model is taken."""

    AVAILABLE = "available"
    DISABLED = "disabled"  # by the operator, `models disable`
    RETIRED = "retired"  # by the upstream, as the settings' `retired_models` say


@dataclass(frozen=True)
class CatalogEntry:
    """One model as `models list` shows it."""

    name: str
    endpoints: tuple[str, ...]
    state: ModelState
    retired_on: tuple[str, ...]  # the families whose endpoints refuse it as retired (all of them: RETIRED)
    like: str | None  # for a model the operator added: the known model it is validated and priced as
    note: str

    @property
    def added(self) -> bool:
        """Whether the operator added it (a release does not know it)."""
        return self.like is not None


def entries(rows: Mapping[str, ModelRow], settings: Settings) -> list[CatalogEntry]:
    """List every model: the release's, then the operator's, each with its endpoints and state."""
    known = known_models()
    listed = []
    for name, specs in known.items():
        row = rows.get(name)
        listed.append(_entry(name, specs, row, None, settings))
    for name, row in rows.items():
        if name not in known and row.like is not None:
            listed.append(_entry(name, known.get(row.like, ()), row, row.like, settings))
    return listed


def _entry(
    name: str, specs: tuple[ActionSpec, ...], row: ModelRow | None, like: str | None, settings: Settings
) -> CatalogEntry:
    retired_on = tuple(dict.fromkeys(spec.family.value for spec in specs if _retired(settings, spec, name)))
    if specs and all(_retired(settings, spec, name) for spec in specs):
        state = ModelState.RETIRED
    else:  # retired on some endpoints only (kling-v1 still makes images): the operator's word for the others
        state = ModelState.DISABLED if row is not None and row.disabled else ModelState.AVAILABLE
    return CatalogEntry(
        name=name,
        endpoints=tuple(_aliased(spec, name).path for spec in specs),
        state=state,
        retired_on=retired_on,
        like=like,
        note=row.note if row is not None else "",
    )


def _aliased(spec: ActionSpec, name: str) -> ActionSpec:
    """The endpoint a model added like another's serves: a new-generation path names the model itself."""
    if spec.generation is Generation.NEW and path_model(spec) != name:
        product = spec.action.rpartition("/")[0]
        return replace(spec, action=f"{product}/{name}")
    return spec


def _retired(settings: Settings, spec: ActionSpec, model: str) -> bool:
    return model in settings.retired_models.get(spec.family.value, ())


async def list_models(session: AsyncSession, settings: Settings) -> list[CatalogEntry]:
    """List every model the gateway knows, with its endpoints and state."""
    return entries(await repository.all_rows(session), settings)


async def set_enabled(
    session: AsyncSession, settings: Settings, name: str, *, enabled: bool, note: str | None, now_ms: int
) -> CatalogEntry:
    """Disable a model (submits naming it are refused at the gateway) or enable it again."""
    rows = await repository.all_rows(session)
    if name not in known_models() and (name not in rows or rows[name].like is None):
        raise InvalidRequest(_unknown(name, rows), param="name")
    entry = _find(entries(rows, settings), name)
    if enabled and entry.retired_on and entry.state is ModelState.RETIRED:
        raise InvalidRequest(
            f"{name} is retired on the {', '.join(entry.retired_on)} endpoints by the upstream, not disabled here; "
            "it comes back only if it is taken off KLING_GATEWAY_RETIRED_MODELS",
            param="name",
        )
    await repository.set_disabled(session, name, disabled=not enabled, note=note, now_ms=now_ms)
    return _find(await list_models(session, settings), name)


async def add_model(
    session: AsyncSession, settings: Settings, name: str, *, like: str, note: str, now_ms: int
) -> CatalogEntry:
    """Add a Kling model this release does not know, validated and priced like a known one."""
    rows = await repository.all_rows(session)
    known = known_models()
    if not MODEL_NAME.fullmatch(name):
        raise InvalidRequest(
            f"{name!r} is not a model name: 1 to 64 lowercase letters, digits, dots and dashes, as Kling's are",
            param="name",
        )
    if name in known or (name in rows and rows[name].like is not None):
        raise InvalidRequest(f"{name} is already known; `models list` shows what it serves", param="name")
    if like not in known:
        raise InvalidRequest(
            f"--like: {like!r} is not a model this release knows; it must be one of {', '.join(known)}",
            param="like",
        )
    if name in rows:  # a disabled row without `like` for a name nobody knows cannot exist, but be exact
        raise InvalidRequest(f"{name} already has a row in the catalog", param="name")
    await repository.add(session, name, like=like, note=note, now_ms=now_ms)
    return _find(await list_models(session, settings), name)


def _find(listed: list[CatalogEntry], name: str) -> CatalogEntry:
    [entry] = [entry for entry in listed if entry.name == name]
    return entry


def _unknown(name: str, rows: Mapping[str, ModelRow]) -> str:
    names = [*known_models(), *(row.name for row in rows.values() if row.like is not None)]
    return f"{name!r} is not a model the gateway knows; it knows {', '.join(names)}"


@dataclass(frozen=True)
class Admitted:
    """A submit the catalog lets through: the body to validate (naming the model an added one is like)."""

    spec: ActionSpec
    validated: object


class Catalog:
    """Consult the catalog on every submit, reading the operator's rows at most once every `ttl_s` seconds, so
    a change applies within that and a submit does not pay a query each time."""

    def __init__(self, db: Database, settings: Settings, *, clock: Clock | None = None) -> None:
        self.db = db
        self.settings = settings
        self.clock = clock or SystemClock()
        self._ttl_ms = round(settings.model_cache_ttl_s * 1000)
        self._rows: dict[str, ModelRow] = {}
        self._read_at_ms: int | None = None

    async def rows(self) -> Mapping[str, ModelRow]:
        """The operator's rows, as read at most `ttl_s` ago."""
        now = self.clock.now_ms()
        if self._read_at_ms is None or now - self._read_at_ms >= self._ttl_ms:
            async with self.db.read() as connection:
                self._rows = await repository.all_rows(connection)
            self._read_at_ms = now
        return self._rows

    async def new_spec(self, action: str) -> ActionSpec | None:
        """Find the new-generation endpoint `<product>/<model>`, a model the operator added included (served by
        the endpoint of the model it is like, under its own path); None when there is none."""
        spec = NEW_ACTIONS.get(action)
        if spec is not None:
            return spec
        product, _, model = action.rpartition("/")
        row = (await self.rows()).get(model)
        if row is None or row.like is None or f"{product}/{row.like}" not in NEW_ACTIONS:
            return None
        return replace(NEW_ACTIONS[f"{product}/{row.like}"], action=action)

    async def admit(self, spec: ActionSpec, raw: object) -> Admitted:
        """Refuse a submit naming a retired or disabled model, with nothing held or sent; let an added model
        through as the model it is like."""
        named, where = (path_model(spec), "model") if spec.generation is Generation.NEW else _named(raw)
        if named is None or not (self.settings.retired_models or await self.rows()):
            return Admitted(spec, raw)
        if _retired(self.settings, spec, named):
            raise InvalidRequest(RETIRED_MESSAGE.format(model=named), param=where)
        row = (await self.rows()).get(named)
        if row is None:
            return Admitted(spec, raw)
        if row.disabled:
            raise InvalidRequest(
                f"{where}: the model {named!r} is disabled on this gateway by its operator"
                + (f" ({row.note})" if row.note else "")
                + "; use another model this endpoint takes",
                param=where,
            )
        if row.like is None or spec.generation is Generation.NEW:
            return Admitted(spec, raw)
        if row.like not in models_of(spec):
            raise InvalidRequest(
                f"{where}: the model {named!r} is served like {row.like!r}, which {spec.path} does not take; "
                f"it takes {', '.join(models_of(spec))}",
                param=where,
            )
        return Admitted(spec, _renamed(raw, row.like))


def _named(raw: object) -> tuple[str | None, str]:
    """The model a legacy body names, and the field naming it."""
    if not isinstance(raw, dict):
        return None, MODEL_FIELD
    if isinstance(raw.get(MODEL_FIELD), str):
        return raw[MODEL_FIELD], MODEL_FIELD
    nested = raw.get(NESTED_MODEL_FIELD)
    if isinstance(nested, dict) and isinstance(nested.get(MODEL_FIELD), str):
        return nested[MODEL_FIELD], f"{NESTED_MODEL_FIELD}.{MODEL_FIELD}"
    return None, MODEL_FIELD


def _renamed(raw: object, model: str) -> object:
    """The body naming `model` instead, where it named one; the body itself stays as sent."""
    assert isinstance(raw, dict)
    if isinstance(raw.get(MODEL_FIELD), str):
        return raw | {MODEL_FIELD: model}
    return raw | {NESTED_MODEL_FIELD: raw[NESTED_MODEL_FIELD] | {MODEL_FIELD: model}}

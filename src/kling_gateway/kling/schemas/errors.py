"""Parse request bodies and turn validation errors into one message a person can act on."""

import difflib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import NoneType, UnionType
from typing import Annotated, Any, Literal, TypeVar, Union, get_args, get_origin

from annotated_types import Ge, Gt, Le, Lt, MaxLen, MinLen
from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo
from pydantic_core import ErrorDetails

from .base import InvalidBody
from .fields import shown

M = TypeVar("M", bound=BaseModel)
Loc = Sequence[int | str]

# When naming the allowed fields, the model comes first and the fields every endpoint shares come last.
FIELDS_FIRST = ("model_name", "model")
FIELDS_LAST = ("callback_url", "external_task_id", "watermark_info", "settings", "options")
TYPE_NAMES = {
    "string_type": "a string",
    "float_type": "a number",
    "int_type": "a whole number",
    "bool_type": "true or false",
    "model_type": "a JSON object",
    "dict_type": "a JSON object",
    "model_attributes_type": "a JSON object",
    "list_type": "an array",
}
RANGE_ERRORS = frozenset({"greater_than_equal", "greater_than", "less_than_equal", "less_than"})


def parse_body(schema: type[M], body: object) -> M:
    """Validate a decoded JSON body against a schema, or raise InvalidBody saying everything wrong with it."""
    if not isinstance(body, dict):
        raise InvalidBody("request body must be a JSON object")
    try:
        return schema.model_validate(body)
    except ValidationError as exc:
        raise InvalidBody(describe(schema, exc)) from exc


def describe(schema: type[BaseModel], exc: ValidationError) -> str:
    """Say every problem in one message, each naming its field by the dotted path."""
    messages: list[str] = []
    for error in exc.errors(include_url=False):
        for message in _messages(schema, error):
            if message not in messages:
                messages.append(message)
    return "; ".join(messages)


def _messages(schema: type[BaseModel], error: ErrorDetails) -> list[str]:
    path = _path(error["loc"])
    if error["type"] == "kling_rule":
        problems: list[list[str]] = error.get("ctx", {})["problems"]
        return [_at(_under(path, where), text) for where, text in problems]
    return [_at(path, _explain(schema, error))]


@dataclass(frozen=True)
class _Failure:
    """One pydantic error, with the schema it was raised against."""

    schema: type[BaseModel]
    kind: str
    loc: Loc
    value: Any
    ctx: dict[str, Any]


def _explain(schema: type[BaseModel], error: ErrorDetails) -> str:
    failure = _Failure(schema, error["type"], error["loc"], error["input"], dict(error.get("ctx", {})))
    if failure.kind in TYPE_NAMES:
        return f"must be {TYPE_NAMES[failure.kind]} (got {shown(failure.value)})"
    explain = _EXPLAINERS.get(failure.kind)
    # An error type without an explainer keeps pydantic's own wording rather than lose the problem.
    return explain(failure) if explain else error["msg"]


def _missing(failure: _Failure) -> str:
    options = _literal_values(failure.schema, failure.loc)
    return "is required" + (f"; allowed values are {', '.join(options)}" if options else "")


def _not_allowed(failure: _Failure) -> str:
    options = _literal_values(failure.schema, failure.loc) or [str(failure.ctx.get("expected", ""))]
    return f"{shown(failure.value)} is not allowed; allowed values are {', '.join(options)}"


def _text_too_long(failure: _Failure) -> str:
    return f"is {len(failure.value)} characters long; at most {failure.ctx['max_length']} are allowed"


def _text_too_short(failure: _Failure) -> str:
    fewest = failure.ctx["min_length"]
    if fewest == 1:
        return "must not be empty"
    return f"is {len(failure.value)} characters long; at least {fewest} are required"


def _path(loc: Loc) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text


def _at(where: str, text: str) -> str:
    return f"{where}: {text}" if where else text


def _under(prefix: str, where: str) -> str:
    """Put the field names of a nested rule under the path of the object that broke it."""
    if not prefix:
        return where
    if not where:
        return prefix
    # where lists names separated by ", " and " / " (see Problem); prefix each of them.
    return " / ".join(", ".join(f"{prefix}.{name}" for name in group.split(", ")) for group in where.split(" / "))


def _strip(annotation: Any, metadata: list[Any]) -> Any:
    """Unwrap Annotated and Optional, collecting the constraints on the way."""
    while True:
        origin = get_origin(annotation)
        if origin is Annotated:
            for item in annotation.__metadata__:
                # Field(ge=..) inside Annotated arrives as a FieldInfo holding the annotated_types constraints.
                metadata.extend(item.metadata if isinstance(item, FieldInfo) else [item])
            annotation = get_args(annotation)[0]
        elif origin in (Union, UnionType):
            members = [a for a in get_args(annotation) if a is not NoneType]
            if len(members) != 1:
                return annotation
            annotation = members[0]
        else:
            return annotation


def _is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def _fields(model: type[BaseModel]) -> dict[str, Any]:
    """Map each field's name on the wire to its FieldInfo."""
    return {info.alias or name: info for name, info in model.model_fields.items()}


def _resolve(schema: type[BaseModel], loc: Loc) -> tuple[Any, list[Any]] | None:
    """Find the type and constraints of the field at loc, or None when loc leads elsewhere."""
    annotation: Any = schema
    metadata: list[Any] = []
    for part in loc:
        container = _strip(annotation, [])
        if isinstance(part, int) and get_origin(container) is list:
            annotation, metadata = get_args(container)[0], []
        elif isinstance(part, str) and _is_model(container) and part in _fields(container):
            info = _fields(container)[part]
            annotation, metadata = info.annotation, list(info.metadata)
        else:
            return None
    return _strip(annotation, metadata), metadata


def _literal_values(schema: type[BaseModel], loc: Loc) -> list[str]:
    found = _resolve(schema, loc)
    if found is None or get_origin(found[0]) is not Literal:
        return []
    return [f'"{v}"' if isinstance(v, str) else str(v) for v in get_args(found[0])]


def _unknown_field(failure: _Failure) -> str:
    schema, name, parent = failure.schema, str(failure.loc[-1]), failure.loc[:-1]
    found = _resolve(schema, parent)
    if found is None or not _is_model(found[0]):
        return "is not a known field"
    # Fields kept out of the wire form (a new-generation body's copies of its options) are not offered.
    offered = [field for field, info in _fields(found[0]).items() if not info.exclude]
    allowed = sorted(offered, key=lambda field: (field not in FIELDS_FIRST) + (field in FIELDS_LAST))
    owner = _path(parent) or schema.model_config.get("title") or schema.__name__
    close = difflib.get_close_matches(name, allowed, n=1, cutoff=0.75)
    hint = f" (did you mean {close[0]}?)" if close else ""
    return f"is not a field of {owner}{hint}; allowed fields are: {', '.join(allowed)}"


def _bounds(schema: type[BaseModel], loc: Loc) -> list[Any]:
    found = _resolve(schema, loc)
    return found[1] if found else []


def _number(value: object) -> str:
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)


def _ctx_bounds(ctx: dict[str, Any]) -> list[Any]:
    """Rebuild the one bound pydantic reports, for fields whose constraints cannot be looked up."""
    kinds = {"ge": Ge, "gt": Gt, "le": Le, "lt": Lt}
    return [kinds[key](bound) for key, bound in ctx.items() if key in kinds]


def _range(failure: _Failure) -> str:
    bounds = _bounds(failure.schema, failure.loc) or _ctx_bounds(failure.ctx)

    def bound(kind: type[Any], attr: str) -> str | None:
        return next((_number(getattr(c, attr)) for c in bounds if isinstance(c, kind)), None)

    low, above, high, below = bound(Ge, "ge"), bound(Gt, "gt"), bound(Le, "le"), bound(Lt, "lt")
    got = f"(got {shown(failure.value)})"
    if low is not None and high is not None:
        return f"must be between {low} and {high} {got}"
    if low is not None:
        return f"must be at least {low} {got}"
    if above is not None:
        return f"must be greater than {above} {got}"
    return f"must be at most {high} {got}" if high is not None else f"must be less than {below} {got}"


def _count(failure: _Failure) -> str:
    bounds, value = _bounds(failure.schema, failure.loc), failure.value
    fewest = next((c.min_length for c in bounds if isinstance(c, MinLen)), None)
    most = next((c.max_length for c in bounds if isinstance(c, MaxLen)), None)
    count = len(value) if isinstance(value, list) else 0
    if fewest is not None and fewest == most:
        return f"must have exactly {fewest} item{'s' if fewest != 1 else ''} (got {count})"
    if failure.kind == "too_long":
        return f"has {count} items; at most {most} {'is' if most == 1 else 'are'} allowed"
    return f"must have at least {fewest} item{'s' if fewest != 1 else ''} (got {count})"


_EXPLAINERS: dict[str, Callable[[_Failure], str]] = {
    "missing": _missing,
    "extra_forbidden": _unknown_field,
    "literal_error": _not_allowed,
    "kling_value": lambda failure: str(failure.ctx["text"]),
    "value_error": lambda failure: str(failure.ctx["error"]),
    "string_too_long": _text_too_long,
    "string_too_short": _text_too_short,
    "too_short": _count,
    "too_long": _count,
    **dict.fromkeys(RANGE_ERRORS, _range),
}

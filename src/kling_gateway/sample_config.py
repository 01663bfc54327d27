"""Write the sample configuration, `.env.example`: every setting as its `KLING_GATEWAY_*` variable with its default,
its unit and what it does, read from the settings classes and the comments beside their fields, so that the file
says what the code does (a test compares it with what this module writes).
"""

from __future__ import annotations

import ast
import inspect
import io
import json
import textwrap
import tokenize
from collections.abc import Iterator
from decimal import Decimal
from enum import Enum
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from kling_gateway.settings import ENV_PREFIX, Settings

HEADER = """\
# kling-gateway: every setting, with its default. Copy to .env (read from the directory the gateway runs in) or set
# the variables in the environment, and uncomment what you change; a command-line option wins over both.
# Lists and objects are JSON. Written by `kling-gateway config example > .env.example`: do not edit by hand.
"""
UNITS = {"_s": "seconds", "_ms": "milliseconds", "_yuan": "yuan", "_mb": "MiB"}  # by the end of a field's name
WIDTH = 120
NESTED = "__"


def example() -> str:
    """The whole `.env.example`."""
    return HEADER + "".join(f"\n{block}" for block in _blocks(Settings, ENV_PREFIX))


def _blocks(model: type[BaseModel], prefix: str) -> Iterator[str]:
    """One block per setting; a nested group's settings after a heading of their own, under its own prefix."""
    notes = field_notes(model)
    nested: list[tuple[str, type[BaseModel]]] = []
    for name, field in model.model_fields.items():
        group = field.annotation
        if isinstance(group, type) and issubclass(group, BaseModel):
            nested.append((name, group))
            continue
        yield _block(f"{prefix}{name.upper()}", name, field, notes.get(name, ""))
    for name, group in nested:
        summary = (inspect.getdoc(group) or "").split("\n\n")[0].replace("\n", " ")
        yield _comment(f"-- {name}: {summary}", "# ") + "\n"
        yield from _blocks(group, f"{prefix}{name.upper()}{NESTED}")


def _block(variable: str, name: str, field: FieldInfo, note: str) -> str:
    """A setting's description, unit and choices, then the variable with its default, commented out."""
    said = [note] if note else []
    if unit := next((unit for suffix, unit in UNITS.items() if name.endswith(suffix)), None):
        said.append(f"Unit: {unit}.")
    if choices := _choices(field.annotation):
        said.append(f"One of: {', '.join(choices)}.")
    default = _default(field)
    if default is _GENERATED:
        said.append("Unset: made anew at each start.")
        line = f"# {variable}="
    elif default is None:
        said.append("Unset by default.")
        line = f"# {variable}="
    else:
        line = f"# {variable}={_rendered(default)}"
    return (_comment(" ".join(said), "# ") + "\n" if said else "") + line + "\n"


_GENERATED = object()


def _default(field: FieldInfo) -> Any:
    """The field's default; `_GENERATED` when each call of its factory makes another (random keys)."""
    if field.default_factory is None:
        return None if field.default is PydanticUndefined else field.default
    made = field.default_factory()  # type: ignore[call-arg]
    return _GENERATED if made != field.default_factory() else made  # type: ignore[call-arg]


def _rendered(value: Any) -> str:
    """A value as the settings read it from the environment: plain for scalars, JSON in quotes for the rest."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Enum):
        return str(value.value)
    if isinstance(value, str | int | float | Decimal | Path):
        return str(value)
    plain = json.loads(json.dumps(value, default=_plain))
    return f"'{json.dumps(plain, separators=(', ', ': '))}'"


def _plain(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, tuple | frozenset | set):
        return list(value)
    raise TypeError(f"no JSON form for {value!r}")


def _choices(annotation: Any) -> list[str]:
    if get_origin(annotation) is Literal:
        return [str(choice) for choice in get_args(annotation)]
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        return [str(member.value) for member in annotation]
    return []


def _comment(text: str, lead: str) -> str:
    return "\n".join(textwrap.wrap(text, WIDTH, initial_indent=lead, subsequent_indent=lead))


def field_notes(model: type[BaseModel]) -> dict[str, str]:
    """What the source says of each field of `model`: the comment lines just above it and those on its lines."""
    source = textwrap.dedent(inspect.getsource(model))
    comments = {
        token.start[0]: token.string.removeprefix("#").strip()
        for token in tokenize.generate_tokens(io.StringIO(source).readline)
        if token.type == tokenize.COMMENT
    }
    code_lines = source.splitlines()
    [body] = ast.parse(source).body
    assert isinstance(body, ast.ClassDef)
    notes: dict[str, str] = {}
    shared, previous_end = "", 0  # a comment above several fields in a row speaks of them all
    for statement in body.body:
        if not (isinstance(statement, ast.AnnAssign) and isinstance(statement.target, ast.Name)):
            continue
        above: list[str] = []
        line = statement.lineno - 1
        while line in comments and code_lines[line - 1].lstrip().startswith("#"):
            above.insert(0, comments[line])
            line -= 1
        end = statement.end_lineno or statement.lineno
        beside = [comments[number] for number in range(statement.lineno, end + 1) if number in comments]
        if above:
            shared = " ".join(above)
        elif beside or statement.lineno != previous_end + 1:
            shared = ""
        notes[statement.target.id] = _sentence(" ".join(above + beside) or shared)
        previous_end = end
    return notes


def _sentence(text: str) -> str:
    text = text.strip()
    return text if not text or text.endswith(".") else f"{text}."

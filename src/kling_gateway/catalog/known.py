"""The models this release knows, read from the request schemas: legacy `model_name` values per endpoint and the
path models of the new generation."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from functools import cache
from types import MappingProxyType
from typing import Literal, get_args, get_origin

from pydantic import BaseModel

from kling_gateway.kling.schemas import ACTIONS, NEW_ACTIONS, ActionSpec, Generation

MODEL_FIELD = "model_name"


def path_model(spec: ActionSpec) -> str:
    """Name the model of a new-generation endpoint: the last segment of its path (`text-to-video/kling-3.0`)."""
    return spec.action.rpartition("/")[2]


@cache
def known_models() -> Mapping[str, tuple[ActionSpec, ...]]:
    """Map every model this release knows to the endpoints that take it, in registry order."""
    found: dict[str, list[ActionSpec]] = {}
    for spec in (*ACTIONS.values(), *NEW_ACTIONS.values()):
        for model in models_of(spec):
            found.setdefault(model, []).append(spec)
    return MappingProxyType({model: tuple(specs) for model, specs in found.items()})


def models_of(spec: ActionSpec) -> tuple[str, ...]:
    """List the models an endpoint takes: its path model, or the values its body's `model_name` allows."""
    if spec.generation is Generation.NEW:
        return (path_model(spec),)
    return tuple(dict.fromkeys(_model_names(spec.schema)))


def _model_names(schema: type[BaseModel]) -> Iterator[str]:
    """The `model_name` values a body allows, at its top level or in an object it nests (effects' `input`)."""
    for name, field in schema.model_fields.items():
        if name == MODEL_FIELD:
            yield from _literals(field.annotation)
        else:
            for nested in _models(field.annotation):
                field_of = nested.model_fields.get(MODEL_FIELD)
                if field_of is not None:
                    yield from _literals(field_of.annotation)


def _literals(annotation: object) -> Iterator[str]:
    if get_origin(annotation) is Literal:
        yield from (value for value in get_args(annotation) if isinstance(value, str))
        return
    for argument in get_args(annotation):
        yield from _literals(argument)


def _models(annotation: object) -> Iterator[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield annotation
        return
    for argument in get_args(annotation):
        yield from _models(argument)

"""The packages of kling_gateway import one way, top to bottom: no cycle, `TYPE_CHECKING` imports included."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import kling_gateway

ROOT = Path(kling_gateway.__file__).parent

# Top to bottom. A package (or top-level module) imports only from the layers below its own.
LAYERS: tuple[frozenset[str], ...] = (
    frozenset({"__main__"}),
    frozenset({"cli"}),
    # launch: the API on every core, the sync worker once; sample_config: `.env.example` from the settings
    frozenset({"demo", "admin", "launch", "sample_config"}),
    frozenset({"api"}),  # the edge: HTTP, auth, dialect choice
    frozenset({"web"}),  # the console and the portal: pages, sessions, CSRF, previews; the api app mounts them
    frozenset({"health"}),  # readiness and the store's gauges, for /readyz, /metrics and `status`
    frozenset({"sync"}),  # the worker: polling, upstream callbacks, client-callback delivery
    # submit, query, the state machine, dispatch, a move's effects; reconcile: the exports against the ledger
    frozenset({"tasks", "reconcile"}),
    # operators: who signs in to the console, and the audit log of what they change
    frozenset({"channels", "keys", "operators"}),
    frozenset({"users", "outbox", "dialects"}),
    # catalog: the operator's word on models; egress: requests made on a user's behalf, to checked addresses only;
    # passwords: argon2id hashes of operators' and users' passwords
    frozenset({"billing", "upstream", "catalog", "egress", "passwords"}),
    # redaction: no secret in a log line; observability: the metrics every part reports through
    frozenset({"settings", "errors", "redaction", "observability"}),
    # the sandbox shares only the request schemas (kling) with the gateway; serving: uvicorn within limits
    frozenset({"store", "sandbox", "serving"}),
    frozenset({"kling"}),  # the Kling API itself: schemas, codes, prices, signing
    frozenset({"clock", "logs"}),  # logs: what every log line says, and which request it belongs to
)
LAYER_OF = {name: depth for depth, names in enumerate(LAYERS) for name in names}


def unit_of(path: Path) -> str:
    """Name the package (or top-level module) a source file belongs to."""
    return path.relative_to(ROOT).parts[0].removesuffix(".py")


def imports(path: Path) -> Iterator[tuple[int, str]]:
    """List the other units of kling_gateway a file imports, with the line: every import, wherever it stands."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            continue
        for name in names:
            parts = name.split(".")
            if parts[0] == "kling_gateway" and len(parts) > 1:
                yield node.lineno, parts[1]


def sources() -> list[Path]:
    """Every source file of a unit (the package's own `__init__.py` belongs to none)."""
    return [path for path in ROOT.rglob("*.py") if "migrations" not in path.parts and path != ROOT / "__init__.py"]


def test_every_unit_has_a_layer() -> None:
    units = {unit_of(path) for path in sources()}
    assert units - LAYER_OF.keys() == set(), "give each new package a layer in LAYERS"


def test_imports_only_go_down() -> None:
    upward = [
        f"{path.relative_to(ROOT)}:{line} imports kling_gateway.{target} ({unit} is above it, not below)"
        for path in sources()
        for line, target in imports(path)
        if (unit := unit_of(path)) != target and LAYER_OF[target] <= LAYER_OF[unit]
    ]
    assert upward == []


def test_the_check_sees_an_import_that_goes_up(tmp_path: Path) -> None:
    source = tmp_path / "mod.py"
    source.write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from kling_gateway.api.app import create_app\n"
    )
    assert list(imports(source)) == [(3, "api")]

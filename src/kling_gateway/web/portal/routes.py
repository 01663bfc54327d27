"""Every page of the portal, by path."""

from __future__ import annotations

from starlette.routing import BaseRoute, Route

from kling_gateway.web.portal import keys, ledger, overview, tasks

ROUTES: list[BaseRoute] = [
    Route("/", overview.page, methods=["GET"]),
    Route("/tasks", tasks.gallery, methods=["GET"]),
    Route("/tasks/{reference}/preview", tasks.preview, methods=["GET"]),
    Route("/tasks/{reference}", tasks.page, methods=["GET"]),
    Route("/keys", keys.page, methods=["GET"]),
    Route("/keys", keys.create, methods=["POST"]),
    Route("/keys/{key_id:int}/revoke", keys.revoke, methods=["POST"]),
    Route("/ledger", ledger.page, methods=["GET"]),
]

"""Every page of the console, by path."""

from __future__ import annotations

from starlette.routing import BaseRoute, Route

from kling_gateway.web.console import audit, channels, overview, tasks, usage, users

ROUTES: list[BaseRoute] = [
    Route("/", overview.page, methods=["GET"]),
    Route("/tasks", tasks.list_page, methods=["GET"]),
    Route("/tasks/{platform_id}", tasks.task_page, methods=["GET"]),
    Route("/tasks/{platform_id}/preview", tasks.preview, methods=["GET"]),
    Route("/users", users.list_page, methods=["GET"]),
    Route("/users", users.create, methods=["POST"]),
    Route("/users/{user_id:int}", users.user_page, methods=["GET"]),
    Route("/users/{user_id:int}/credits", users.top_up, methods=["POST"]),
    Route("/users/{user_id:int}/rates", users.set_rates, methods=["POST"]),
    Route("/users/{user_id:int}/disable", users.set_enabled, methods=["POST"]),
    Route("/users/{user_id:int}/enable", users.set_enabled, methods=["POST"]),
    Route("/users/{user_id:int}/password", users.set_password, methods=["POST"]),
    Route("/users/{user_id:int}/keys", users.create_key, methods=["POST"]),
    Route("/users/{user_id:int}/keys/{key_id:int}/revoke", users.revoke_key, methods=["POST"]),
    Route("/users/{user_id:int}/keys/{key_id:int}/rotate", users.rotate_key, methods=["POST"]),
    Route("/channels", channels.list_page, methods=["GET"]),
    Route("/channels", channels.create, methods=["POST"]),
    Route("/channels/new", channels.new_page, methods=["GET"]),
    Route("/channels/{channel_id:int}", channels.edit_page, methods=["GET"]),
    Route("/channels/{channel_id:int}", channels.update, methods=["POST"]),
    Route("/channels/{channel_id:int}/disable", channels.set_enabled, methods=["POST"]),
    Route("/channels/{channel_id:int}/enable", channels.set_enabled, methods=["POST"]),
    Route("/usage", usage.page, methods=["GET"]),
    Route("/audit", audit.page, methods=["GET"]),
]

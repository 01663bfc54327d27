"""Channels: the upstream Kling accounts the gateway runs tasks on."""

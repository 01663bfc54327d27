"""What the pages need of a running gateway, named here so that the web layer never reaches up into the API's."""

from __future__ import annotations

from typing import Protocol

from kling_gateway.clock import Clock
from kling_gateway.egress.downloads import Downloads
from kling_gateway.settings import Settings
from kling_gateway.store.database import Database
from kling_gateway.store.probe import Probe


class Parts(Protocol):
    """The running gateway's settings, database, readiness probe, result-file downloads and clock."""

    settings: Settings
    db: Database
    probe: Probe
    downloads: Downloads
    clock: Clock

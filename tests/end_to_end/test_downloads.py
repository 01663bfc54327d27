"""Downloads of result files cannot starve anyone: they have a pool of their own, a bound per key and in all, and a
client that stops reading is cut off, so submits, queries and the worker's polls go through while they hang."""

from __future__ import annotations

import asyncio
import concurrent.futures
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import StreamingResponse
from starlette.routing import Route

from kling_gateway.settings import DownloadConfig
from tests.gateway import KLING_T2V, QUICK_SYNC, GatewayFactory, RunningGateway
from tests.helpers import create, wait_for, wait_until
from tests.inprocess import Apps, Network

CHUNK = b"\x00" * (1 << 20)


@dataclass
class FileServer:
    """Where the upstream keeps result files, on a loopback port: it sends `chunks` of 1 MB per file, stalling after
    the first until `flowing` is set."""

    chunks: int
    flowing: asyncio.Event = field(default_factory=asyncio.Event)
    url: str = ""
    requested: int = 0  # files asked for
    stalled: int = 0  # files sent in part, waiting for `flowing`

    async def serve(self, _request: Request) -> StreamingResponse:
        self.requested += 1

        async def body() -> AsyncIterator[bytes]:
            yield CHUNK
            if not self.flowing.is_set():
                self.stalled += 1
                await self.flowing.wait()
                self.stalled -= 1
            for _ in range(self.chunks - 1):
                yield CHUNK

        length = str(self.chunks * len(CHUNK))
        return StreamingResponse(body(), media_type="video/mp4", headers={"content-length": length})


@pytest.fixture
def files(apps: Apps) -> FileServer:
    """A file server that stalls every file after its first megabyte, until the test lets it flow."""
    server = FileServer(chunks=2)
    server.url = apps.listen(Starlette(routes=[Route("/files/videos/{name}", server.serve)]))
    return server


def finished_video(gw: RunningGateway, user: str) -> str:
    """Submit a text2video task as `user`, wait until it has succeeded, and return its platform id."""
    with gw.client(user) as client:
        platform_id = str(create(client, KLING_T2V, {"prompt": f"a fox for {user}"})["platform_id"])
        assert wait_until(client, f"{KLING_T2V}/{platform_id}")["task_status"] == "succeed"
    return platform_id


def download_later(network: Network, gw: RunningGateway, user: str, video_id: str) -> concurrent.futures.Future[int]:
    """Start downloading a video as `user` on the apps' loop; the future gives the answer's status once it ends."""

    async def download() -> int:
        headers = {"Authorization": f"Bearer {gw.keys[user]}"}
        async with httpx.AsyncClient(transport=network.transport(), base_url=gw.url, timeout=30) as client:
            answer = await client.get(f"/v1/videos/{video_id}/content", headers=headers)
            return answer.status_code

    return asyncio.run_coroutine_threadsafe(download(), network.loop.loop)


def test_hung_downloads_leave_submits_queries_and_polls_free_and_a_key_past_its_cap_gets_429(
    gateway_factory: GatewayFactory, files: FileServer, network: Network
) -> None:
    gw = gateway_factory(
        sandbox={"listen": True, "public_url": files.url},  # its result URLs point at the file server
        real_network=True,  # the gateway's own pools, sized by its settings, as in production
        sync=QUICK_SYNC.model_copy(update={"upstream_connections": 2}),
        downloads=DownloadConfig(per_key=2, at_once=3, private_origins=(files.url,)),
    )
    gw.keys["carol"] = gw.admin.user("carol")
    videos = {user: finished_video(gw, user) for user in ("alice", "bob")}
    hung = [download_later(network, gw, user, videos[user]) for user in ("alice", "alice", "bob")]
    wait_for(lambda: files.stalled == 3, "three downloads hanging on the file server", timeout_s=10)

    with gw.client("alice") as alice:
        capped = alice.get(f"/v1/videos/{videos['alice']}/content")
    assert capped.status_code == 429, capped.text
    assert capped.headers["retry-after"] == "1"
    error = capped.json()["error"]
    assert error["code"] == "too_many_downloads"
    assert "this key already has 2 downloads under way, the most one key may have at once" in error["message"]

    carol_video = finished_video(gw, "carol")  # her submit, her queries and the worker's polls all go through
    with gw.client("carol") as carol:
        refused = carol.get(f"/v1/videos/{carol_video}/content")
        listed = carol.get(KLING_T2V, params={"pageNum": 1, "pageSize": 10})
    assert refused.status_code == 429, refused.text
    assert "the gateway is serving 3 downloads, the most it serves at once" in refused.json()["error"]["message"]
    assert listed.status_code == 200, listed.text
    assert [task["platform_id"] for task in listed.json()["data"]] == [carol_video]

    network.loop.loop.call_soon_threadsafe(files.flowing.set)
    assert [download.result(timeout=10) for download in hung] == [200, 200, 200]
    assert gw.runtime is not None
    wait_for(lambda: gw.runtime is not None and gw.runtime.downloads.gate.under_way == 0, "every place freed")
    with gw.client("carol") as carol:
        again = carol.get(f"/v1/videos/{carol_video}/content")
    assert again.status_code == 200, again.text
    assert len(again.content) == 2 * len(CHUNK)


def test_a_client_that_stops_reading_is_cut_off_and_its_place_freed(
    gateway_factory: GatewayFactory, files: FileServer
) -> None:
    files.chunks = 32  # far more than the sockets between the gateway and the client buffer
    files.flowing.set()
    gw = gateway_factory(
        sandbox={"public_url": files.url},
        listen=True,
        downloads=DownloadConfig(per_key=1, send_timeout_s=0.2, private_origins=(files.url,)),
    )
    video = finished_video(gw, "alice")
    host, port = httpx.URL(gw.url).host, httpx.URL(gw.url).port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as reader:
        reader.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # a small window: the gateway soon blocks
        reader.connect((host, port))
        reader.sendall(
            f"GET /v1/videos/{video}/content HTTP/1.1\r\nHost: {host}\r\n"
            f"Authorization: Bearer {gw.keys['alice']}\r\n\r\n".encode()
        )
        runtime = gw.runtime
        assert runtime is not None
        wait_for(lambda: files.requested == 1, "the download to start")
        wait_for(lambda: runtime.downloads.gate.under_way == 0, "the stalled client to be cut off", timeout_s=10)
        received = _read_to_end(reader)
    head, _, body = received.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200")
    assert f"content-length: {32 * len(CHUNK)}".encode() in head.lower()
    assert len(body) < 32 * len(CHUNK)  # the connection was closed mid-file: the client cannot take it for whole


def _read_to_end(reader: socket.socket) -> bytes:
    reader.settimeout(10)
    received = bytearray()
    while chunk := reader.recv(1 << 16):
        received += chunk
    return bytes(received)

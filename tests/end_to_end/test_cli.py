"""The command line as a user runs it: the demo, and a sandbox started by hand and called like the docs say."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import jwt
import pytest

from tests.helpers import wait_for, wait_until
from tests.web import csrf_of

pytestmark = pytest.mark.slow  # each test runs the command line in processes of its own

COMMAND = [sys.executable, "-m", "kling_gateway"]


def test_the_demo_walks_a_task_to_its_result(tmp_path: Path) -> None:
    env = os.environ | {"KLING_GATEWAY_DATA_DIR": str(tmp_path), "COLUMNS": "200"}
    done = subprocess.run(
        [*COMMAND, "demo", "--exit-when-done"], capture_output=True, text=True, env=env, timeout=120, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "text2video succeeded" in done.stdout
    assert "3.0 turbo succeeded" in done.stdout
    assert "curl" in done.stdout
    saved = list((tmp_path / "demo").glob("*/video_*.mp4"))
    assert len(saved) == 2  # the legacy task's video and the Kling 3.0 Turbo one
    assert all(video.read_bytes()[4:8] == b"ftyp" for video in saved)
    [database] = (tmp_path / "demo").glob("*/gateway.db")
    assert database.stat().st_size > 0


def test_the_demos_curl_commands_work_as_pasted(tmp_path: Path) -> None:
    env = os.environ | {"KLING_GATEWAY_DATA_DIR": str(tmp_path), "COLUMNS": "80", "KLING_GATEWAY_LOG_LEVEL": "warning"}
    demo = subprocess.Popen([*COMMAND, "demo"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    assert demo.stdout is not None
    try:
        commands: list[str] = []
        printed: list[str] = []
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            line = demo.stdout.readline()
            assert line, "the demo stopped before printing its commands"
            printed.append(line)
            if line.startswith("curl "):
                commands.append(line.strip())
            if "keep running" in line:
                break
        # two queries of the legacy task, eight lists, one create; three /tasks queries, one Kling 3.0 Turbo create
        assert len(commands) == 15
        for command in commands:
            answer = subprocess.run(["bash", "-c", command + " -s"], capture_output=True, text=True, check=True)
            body = json.loads(answer.stdout)
            assert body["code"] == 0, (command, body)
        assert json.loads(subprocess.run(
            ["bash", "-c", commands[0] + " -s"], capture_output=True, text=True, check=True
        ).stdout)["data"]["task_status"] == "succeed"  # fmt: skip
        # The console and the portal take the names and passwords the demo printed.
        said = " ".join(" ".join(printed).split())
        for area, name in (("console", "admin"), ("portal", "demo")):
            found = re.search(rf"(http://\S+)/{area}/ \((?:sign in )?as '{name}', password (\S+)\)", said)
            assert found is not None, said[-600:]
            with httpx.Client(base_url=found.group(1)) as browser:
                form = browser.get(f"/{area}/login")
                signed = browser.post(
                    f"/{area}/login",
                    data={"username": name, "password": found.group(2), "csrf_token": csrf_of(form)},
                    headers={"Origin": found.group(1)},
                    follow_redirects=True,
                )
                assert f"Signed in as {name}." in signed.text, signed.text[:400]
    finally:
        demo.terminate()
        demo.wait(timeout=15)


@pytest.fixture
def sandbox_process() -> Iterator[tuple[str, dict[str, str]]]:
    """Start `kling-gateway sandbox` with no keys on a free port; yield its URL and the printed demo keys."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen(
        [*COMMAND, "sandbox", "--port", str(port), "--speed", "500"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=os.environ | {"COLUMNS": "40"},  # the printed keys must survive a narrow terminal unbroken
    )
    assert process.stdout is not None
    lines: list[str] = []
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        lines.append(process.stdout.readline())
        if "Kling sandbox on" in lines[-1]:
            break
    keys = dict(re.findall(r"(access key|secret key|API key)\s+(\S+)", "".join(lines)))

    def answers() -> bool:
        try:
            httpx.get(f"{url}/v1/videos/text2video")
        except httpx.TransportError:
            return False
        return True

    wait_for(answers, f"the sandbox to answer on {url}", timeout_s=max(0.0, deadline - time.monotonic()))
    try:
        yield url, keys
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_a_user_signs_a_jwt_creates_a_task_and_downloads_the_video(
    sandbox_process: tuple[str, dict[str, str]],
) -> None:
    url, keys = sandbox_process
    assert set(keys) == {"access key", "secret key", "API key"}
    now = int(time.time())
    token = jwt.encode(
        {"iss": keys["access key"], "exp": now + 1800, "nbf": now - 5}, keys["secret key"], algorithm="HS256"
    )
    curl = subprocess.run(
        [
            "curl", "-s", "-X", "POST", f"{url}/v1/videos/text2video",
            "-H", f"Authorization: Bearer {token}", "-H", "Content-Type: application/json",
            "-d", '{"prompt": "a paper boat on a river", "external_task_id": "boat-1"}',
        ],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert '"code":0' in curl.stdout, curl.stdout
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {keys['API key']}"}) as client:
        data = wait_until(client, "/v1/videos/text2video/boat-1", ("succeed",), timeout_s=30)
    video = httpx.get(data["task_result"]["videos"][0]["url"])
    assert video.headers["content-type"] == "video/mp4"
    assert len(video.content) > 1000

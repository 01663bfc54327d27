"""Measure a peer in the same run: LiteLLM's proxy passing a minimal chat completion through to a bare mock upstream.

    python -m benchmarks.peer_litellm [--quick]

LiteLLM (`litellm[proxy]` from the package index) is installed into a virtual environment of its own, kept under
the cache directory (KLING_GATEWAY_BENCH_CACHE, else ~/.cache/kling-gateway-bench) for later runs. The mock
upstream is a bare ASGI app answering `/v1/chat/completions` with one prebuilt body, under uvicorn (httptools,
uvloop); the proxy runs as `litellm --num_workers 1` with its default logging and a master key (it starts with
none only when told it is for development), one model routed to the mock. Its
added latency is sequential requests through the proxy minus the same requests straight to the mock, in turns;
its requests/s is wrk at 32 connections, as for the gateway. A proxy that cannot be installed or started gives no
figures: the part fails with the reason.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import orjson

from benchmarks.api_figures import Latency
from benchmarks.harness import CommandServer, free_port, wrk

PACKAGE = "litellm[proxy]"
MODEL = "mock"
REQUEST = orjson.dumps({"model": MODEL, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 5})
ANSWER = orjson.dumps(
    {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": MODEL,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "hello"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }
)
_START: dict[str, Any] = {
    "type": "http.response.start",
    "status": 200,
    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(ANSWER)).encode())],
}
_BODY: dict[str, Any] = {"type": "http.response.body", "body": ANSWER}
WARM_UP = 10
INSTALL_TIMEOUT_S = 900
# LiteLLM would otherwise fetch its model cost map and send telemetry: nothing may leave the machine.
QUIET_ENV = {"LITELLM_LOCAL_MODEL_COST_MAP": "True", "LITELLM_TELEMETRY": "False"}
# The proxy refuses to start without a master key; callers send it, as the gateway's callers send theirs.
MASTER_KEY = "sk-benchmark-" + "0" * 32


async def mock_upstream(scope: dict[str, Any], receive: Callable[[], Any], send: Callable[[Any], Any]) -> None:
    """Answer every request (its body read to the end) with the prebuilt chat completion."""
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    while (await receive()).get("more_body", False):
        pass
    await send(_START)
    await send(_BODY)


def cache_dir() -> Path:
    """Where the peer's virtual environment is kept between runs."""
    return Path(os.environ.get("KLING_GATEWAY_BENCH_CACHE", Path.home() / ".cache" / "kling-gateway-bench"))


def ensure_litellm() -> Path:
    """Return the `litellm` command of the peer's environment, creating the environment and installing LiteLLM's
    proxy into it first if needed; raise with pip's last words if that fails."""
    venv = cache_dir() / "litellm-venv"
    command = venv / "bin" / "litellm"
    if command.exists():
        return command
    venv.parent.mkdir(parents=True, exist_ok=True)
    steps = ([sys.executable, "-m", "venv", str(venv)], [str(venv / "bin" / "pip"), "install", "-q", PACKAGE])
    for step in steps:
        done = subprocess.run(step, capture_output=True, text=True, timeout=INSTALL_TIMEOUT_S, check=False)
        if done.returncode != 0:
            said = [line for line in (done.stderr + done.stdout).splitlines() if not line.startswith("WARNING")]
            raise RuntimeError(f"installing {PACKAGE} failed: {said[-1] if said else done.returncode}")
    return command


def litellm_version(command: Path) -> str:
    """The installed LiteLLM's version, for the record."""
    python = command.parent / "python"
    script = "import importlib.metadata as m; print(m.version('litellm'))"
    return subprocess.run([str(python), "-c", script], capture_output=True, text=True, check=True).stdout.strip()


def timed_in_turns(proxy: httpx.Client, direct: httpx.Client, count: int) -> tuple[Latency, Latency]:
    """Send `count` requests through the proxy and `count` straight to the mock, one of each in turn."""
    sides = (proxy, direct)
    for _ in range(WARM_UP):
        for client in sides:
            _complete(client)
    samples_ms: tuple[list[float], list[float]] = ([], [])
    for _ in range(count):
        for side, client in enumerate(sides):
            started = time.perf_counter()
            _complete(client)
            samples_ms[side].append((time.perf_counter() - started) * 1000)
    return Latency.of(samples_ms[0]), Latency.of(samples_ms[1])


def _complete(client: httpx.Client) -> None:
    answer = client.post("/v1/chat/completions", content=REQUEST, headers={"Content-Type": "application/json"})
    if answer.status_code != 200 or answer.json()["choices"][0]["message"]["content"] != "hello":
        raise RuntimeError(f"a pass-through request failed: {answer.status_code} {answer.text[:500]}")


def peer_litellm_figures(*, quick: bool) -> dict[str, float]:
    """Install LiteLLM if needed, start the mock and the proxy, and measure the proxy's added latency and its
    requests/s."""
    litellm = ensure_litellm()
    print(f"LiteLLM {litellm_version(litellm)} from {litellm.parent.parent}")
    count, seconds = (100, 2) if quick else (500, 5)
    with tempfile.TemporaryDirectory(prefix="kling-bench-litellm-") as directory:
        work = Path(directory)
        mock_port, proxy_port = free_port(), free_port()
        mock_url, proxy_url = f"http://127.0.0.1:{mock_port}", f"http://127.0.0.1:{proxy_port}"
        config = work / "config.yaml"
        config.write_text(
            "model_list:\n"
            f"  - model_name: {MODEL}\n"
            "    litellm_params:\n"
            f"      model: openai/{MODEL}\n"
            f"      api_base: {mock_url}/v1\n"
            "      api_key: sk-mock\n"
        )
        mock = [sys.executable, "-m", "uvicorn", "benchmarks.peer_litellm:mock_upstream", "--port", str(mock_port)]
        mock += ["--http", "httptools", "--loop", "uvloop", "--no-access-log", "--log-level", "warning"]
        proxy = [str(litellm), "--config", str(config), "--host", "127.0.0.1", "--port", str(proxy_port)]
        proxy += ["--num_workers", "1"]
        env = os.environ | QUIET_ENV | {"LITELLM_MASTER_KEY": MASTER_KEY}
        signed_in = {"Authorization": f"Bearer {MASTER_KEY}"}
        with (
            CommandServer(mock, url=mock_url, log_path=work / "mock.log", cwd=Path.cwd()),
            CommandServer(proxy, url=proxy_url, log_path=work / "litellm.log", env=env, cwd=work),
            httpx.Client(base_url=proxy_url, headers=signed_in, timeout=30) as through,
            httpx.Client(base_url=mock_url, timeout=30) as direct,
        ):
            via_proxy, straight = timed_in_turns(through, direct, count)
            url = f"{proxy_url}/v1/chat/completions"
            load = wrk(url, headers=signed_in, post_json=REQUEST, seconds=seconds, timeout_s=10)
    return {
        "peer_litellm_overhead_p50_ms": via_proxy.p50_ms - straight.p50_ms,
        "peer_litellm_overhead_p99_ms": via_proxy.p99_ms - straight.p99_ms,
        "peer_litellm_rps": load.requests_per_s,
        "peer_litellm_p99_ms": load.p99_ms,
    }


if __name__ == "__main__":
    command = argparse.ArgumentParser(prog="python -m benchmarks.peer_litellm", description=__doc__.splitlines()[0])
    command.add_argument("--quick", action="store_true", help="100 sequential requests, 2 s of wrk")
    for name, value in peer_litellm_figures(quick=command.parse_args().quick).items():
        print(f"{name}: {value:.3f}")

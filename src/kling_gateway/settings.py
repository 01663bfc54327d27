"""The one settings object: typed, validated at start-up, read from `KLING_GATEWAY_*` variables or `.env`."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from kling_gateway.logs import LogFormat
from kling_gateway.sandbox.config import SandboxConfig
from kling_gateway.serving import ConnectionLimits
from kling_gateway.store.database import StoreTimeouts, sqlite_url

ENV_PREFIX = "KLING_GATEWAY_"
LogLevel = Literal["critical", "error", "warning", "info", "debug"]
PositiveSeconds = Annotated[float, Field(gt=0)]
MIB = 1024 * 1024


class SyncConfig(BaseModel):
    """How the sync worker brings in-flight tasks forward."""

    model_config = ConfigDict(frozen=True)

    poll_interval_s: PositiveSeconds = 5.0  # how often an in-flight task is looked at upstream
    idle_sleep_s: PositiveSeconds = 1.0  # how long the worker rests when nothing is due
    batch_min_tasks: Annotated[int, Field(ge=1)] = (
        3  # from this many tasks of one channel and action, list instead of GET
    )
    list_page_size: Annotated[int, Field(ge=1, le=500)] = 500  # tasks per upstream list call (the API allows 500)
    claim_limit: Annotated[int, Field(ge=1)] = 2000  # queued, lost or stuck tasks taken in one round at most
    # In-flight tasks polled in one round at most: enough that one sweep of each channel's list covers all due.
    poll_claim_limit: Annotated[int, Field(ge=1)] = 100_000
    claim_chunk: Annotated[int, Field(ge=1)] = 10_000  # in-flight tasks claimed per transaction, which locks them
    list_read_ahead: Annotated[int, Field(ge=1)] = 4  # list pages of one channel's action requested at once
    stuck_after_s: PositiveSeconds = 86_400.0  # a task still unfinished this long after submit fails
    upstream_timeout_s: PositiveSeconds = 30.0  # one upstream request, connect to last byte
    # Upstream API requests under way at once in one process (creates, queries, polls); result downloads and
    # client callbacks have pools of their own, so they never take one of these.
    upstream_connections: Annotated[int, Field(ge=1)] = 200
    max_poll_interval_s: PositiveSeconds = 60.0  # a task running far past its typical time is looked at this often
    lease_s: PositiveSeconds = 120.0  # a worker's claim on a task; a killed worker's tasks come due after it
    # Upstream calls per channel in one round, at most: a sweep of 100 000 tasks of one action, with as many
    # finished ones listed between them, takes 400 pages of 500.
    requests_per_round: Annotated[int, Field(ge=1)] = 400
    callback_timeout_s: PositiveSeconds = 10.0  # one delivery of a client callback
    callback_concurrency: Annotated[int, Field(ge=1)] = 64  # client-callback deliveries under way at once, per worker
    # Of them, to one receiver host at most: a receiver that never answers holds only this many slots.
    callback_per_target: Annotated[int, Field(ge=1)] = 4
    callback_give_up_s: PositiveSeconds = 86_400.0  # retry a client callback this long, then give up
    # A task in flight the upstream no longer finds (a legacy GET answers "task not found", a `GET /tasks` answer
    # leaves it out) is failed as lost once this many looks in a row missed it, over at least absent_grace_s: a
    # task just created may be missing for a moment.
    absent_limit_answers: Annotated[int, Field(ge=1)] = 5
    absent_grace_s: Annotated[float, Field(ge=0)] = 120.0
    # While the database cannot be used, the worker pauses this long before trying again, doubling each time up to
    # store_retry_max_s; it says so in one line per pause, and once when the database is back.
    store_retry_s: PositiveSeconds = 1.0
    store_retry_max_s: PositiveSeconds = 30.0
    # Send client callbacks through this HTTP(S) proxy; HTTP(S)_PROXY of the environment never applies to them.
    callback_proxy: AnyHttpUrl | None = None


class AdmissionConfig(BaseModel):
    """What a submit may wait for, and how much one key may do at once."""

    model_config = ConfigDict(frozen=True)

    queue_per_user: Annotated[int, Field(ge=0)] = 1000  # a user's tasks waiting for a free channel, at most
    queue_total: Annotated[int, Field(ge=0)] = 20_000  # tasks waiting for a free channel, all users together
    max_send_attempts: Annotated[int, Field(ge=1)] = 5  # create calls for one task before it fails
    # A key's defaults when the admin set none for it (`keys update ID --rps N --max-in-flight N`); None: no limit.
    requests_per_second: Annotated[float | None, Field(gt=0)] = None
    tasks_in_flight: Annotated[int | None, Field(ge=1)] = None


class DownloadConfig(BaseModel):
    """How result files are streamed to clients: over a pool of their own, bounded in all and per key, and cut off
    when the upstream or the client stalls, so downloads never hold what submits, queries and polls need."""

    model_config = ConfigDict(frozen=True)

    at_once: Annotated[int, Field(ge=1)] = 64  # downloads under way at once in one process, all keys together
    per_key: Annotated[int, Field(ge=1)] = 4  # downloads under way at once for one key; past it, 429
    connect_timeout_s: PositiveSeconds = 5.0  # connecting to where the upstream keeps the file
    read_timeout_s: PositiveSeconds = 30.0  # the longest the upstream may send nothing while a file streams
    send_timeout_s: PositiveSeconds = 30.0  # the longest a client may take to accept one chunk before it is cut off
    total_s: PositiveSeconds = 1800.0  # a whole download, at most
    # Origins (scheme://host:port) on private addresses result files may come from, besides each task's own
    # channel's base URL: e.g. a storage service inside the network a private upstream hands out URLs of.
    private_origins: tuple[AnyHttpUrl, ...] = ()
    # Fetch result files through this HTTP(S) proxy; HTTP(S)_PROXY of the environment never applies to them.
    proxy: AnyHttpUrl | None = None


class MetricsConfig(BaseModel):
    """Who may read `/metrics`, and whether requests are measured at all."""

    model_config = ConfigDict(frozen=True)

    enabled: bool = True  # measure HTTP requests and serve /metrics (off only to measure what metrics cost)
    # The operator's token, sent as `Authorization: Bearer …`; when set, /metrics always requires it.
    token: SecretStr | None = None
    # Without a token, serve /metrics to anyone only while the gateway listens on a loopback address (`host`).
    public_on_loopback: bool = True


class HealthConfig(BaseModel):
    """What /readyz and `kling-gateway status` call healthy."""

    model_config = ConfigDict(frozen=True)

    worker_stale_after_s: PositiveSeconds = 120.0  # no worker round finished this long: not ready
    heartbeat_every_s: PositiveSeconds = 5.0  # a worker writes its heartbeat at most this often
    check_timeout_s: PositiveSeconds = 3.0  # each readiness check, connecting to the database included


class ChannelHealthConfig(BaseModel):
    """When a channel counts as degraded or down, and how the breaker that stops sending it tasks tries it again."""

    model_config = ConfigDict(frozen=True)

    window_s: PositiveSeconds = 300.0  # error rate and latency are taken over the calls of this last stretch
    window_calls: Annotated[int, Field(ge=1, le=1000)] = 100  # and over this many of its latest calls at most
    min_calls: Annotated[int, Field(ge=1)] = 5  # fewer calls in the window say nothing about its error rate
    degraded_error_ratio: Annotated[float, Field(gt=0, le=1)] = 0.2  # this share of faults in the window: degraded
    breaker_faults: Annotated[int, Field(ge=1)] = 5  # upstream faults in a row that take a channel down
    cooldown_s: PositiveSeconds = 30.0  # a channel down takes no task this long, then one probe decides
    max_cooldown_s: PositiveSeconds = 600.0  # each failed probe doubles the cool-down, up to this
    # The probe: one item of this legacy task list, a cheap request that the channel's credentials must authorize.
    probe_path: str = Field(default="/v1/videos/text2video", pattern=r"^/v1/[a-z0-9/-]+$")
    report_every_s: PositiveSeconds = 1.0  # a process writes what it saw of one channel at most this often
    cache_s: Annotated[float, Field(ge=0)] = 2.0  # a process reads the channels' health again after this

    @model_validator(mode="after")
    def _cooldowns_in_order(self) -> ChannelHealthConfig:
        if self.max_cooldown_s < self.cooldown_s:
            raise ValueError(
                f"max_cooldown_s ({self.max_cooldown_s:g}) must be at least cooldown_s ({self.cooldown_s:g}): "
                "the cool-down only grows from the first to the longest"
            )
        return self


class WebConfig(BaseModel):
    """How the console and the portal keep people signed in, and how often a sign-in may fail."""

    model_config = ConfigDict(frozen=True)

    # Signs session cookies (HMAC-SHA256). Unset: one is generated and kept in the data dir (web-session-secret),
    # so that every API process and every restart accepts the same cookies.
    session_secret: SecretStr | None = None
    session_ttl_s: PositiveSeconds = 43_200.0  # a session ends this long after signing in
    # Failed sign-ins within a minute, per name and per client address, past which the next is refused (429).
    sign_in_failures_per_minute: Annotated[int, Field(ge=1)] = 5


def _retired_by_default() -> dict[str, tuple[str, ...]]:
    return {"videos": ("kling-v1",)}  # 2026 reference §1: the upstream answers it "has been discontinued"


class BillingConfig(BaseModel):
    """How what the upstream deducted turns into what a user is charged."""

    model_config = ConfigDict(frozen=True)

    # µ¥ per one unit of each currency a `cash` deduction may be in (per yuan, per dollar); a deduction in a
    # currency missing here is not guessed at: its task is left unbilled, saying why.
    currency_micros: dict[str, Annotated[int, Field(ge=0)]] = Field(
        default_factory=lambda: {"CNY": 1_000_000, "USD": 7_100_000}
    )


class StoreConfig(BaseModel):
    """How long the API and the worker wait on the database before answering that the store is unavailable."""

    model_config = ConfigDict(frozen=True)

    connect_timeout_s: PositiveSeconds = 5.0  # opening a connection to PostgreSQL
    # One statement, lock waits included: PostgreSQL's statement_timeout (the client gives up up to 2 s later,
    # for a server that stopped answering), SQLite's busy timeout for the write lock.
    statement_timeout_s: PositiveSeconds = 10.0
    pool_timeout_s: PositiveSeconds = 10.0  # waiting for a pooled connection when every one is in use

    def timeouts(self) -> StoreTimeouts:
        """The bounds in the store's own terms."""
        return StoreTimeouts(
            connect_s=self.connect_timeout_s, statement_s=self.statement_timeout_s, pool_s=self.pool_timeout_s
        )


class HttpConfig(BaseModel):
    """What one HTTP request may send, and how slowly, before the gateway stops reading it."""

    model_config = ConfigDict(frozen=True)

    # A request body, at most: Kling takes Base64 pictures of up to 50 MB in the new generation (67 MB of text).
    max_body_bytes: Annotated[int, Field(ge=1)] = 72 * MIB
    # The body of a create whose action takes no media at all (text-to-video, video-extend, text-to-audio): text
    # and numbers only, a few kilobytes. A larger one is refused before it is read, rather than parsed for nothing.
    max_text_body_bytes: Annotated[int, Field(ge=1)] = 1 * MIB
    # Request bodies one process holds at once, all requests together; a body that would pass it is 503. A body is
    # read, parsed and validated into about three times its size: 72 MiB keeps a process within 300 MB.
    max_bodies_in_flight_bytes: Annotated[int, Field(ge=1)] = 72 * MIB
    body_timeout_s: PositiveSeconds = 60.0  # the whole body must arrive within this, once the head has
    max_head_bytes: Annotated[int, Field(ge=1024)] = 64 * 1024  # request line and headers together (431 past it)
    head_timeout_s: PositiveSeconds = 10.0  # from a request's first byte to the end of its headers (408 past it)
    keep_alive_s: PositiveSeconds = 5.0  # an idle connection, new or between requests, is closed after

    def connection_limits(self) -> ConnectionLimits:
        """The limits the HTTP server itself enforces, before the app sees a request."""
        return ConnectionLimits(
            max_head_bytes=self.max_head_bytes, head_timeout_s=self.head_timeout_s, keep_alive_s=self.keep_alive_s
        )


class Settings(BaseSettings):
    """Every knob of kling-gateway, e.g. `KLING_GATEWAY_DATA_DIR`, `KLING_GATEWAY_SANDBOX__SPEED`.

    Lists and nested objects are given as JSON, e.g.
    `KLING_GATEWAY_SANDBOX__ACCOUNTS='[{"access_key": "AK", "secret_key": "SK"}]'`.
    """

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, env_nested_delimiter="__", env_file=".env", extra="ignore")

    data_dir: Path = Path("data")  # where the SQLite file lives (unless database_url names another database)
    log_level: LogLevel = "info"  # of every process; warning hides the access log
    log_format: LogFormat = "text"  # json: one JSON object a line, for log shippers
    access_log: bool = True  # one line per request (at info): method, path, status, duration, request and key ids
    # Default: a SQLite file in data_dir; or postgresql+asyncpg://user:password@host/db (kept out of repr).
    database_url: str | None = Field(default=None, repr=False)
    host: str = "127.0.0.1"  # where `serve` listens
    port: Annotated[int, Field(ge=0, le=65535)] = 8000
    workers: Annotated[int | None, Field(ge=1)] = None  # API processes of `serve`; None: one per core
    # On SIGTERM, how long requests under way may take to finish, and then the sync worker its round.
    graceful_timeout_s: Annotated[int, Field(ge=0)] = 30
    public_url: AnyHttpUrl | None = None  # where the upstream can reach this gateway; enables upstream callbacks
    video_credit_yuan: Annotated[Decimal, Field(ge=0)] = Decimal(1)  # price of one video credit (积分)
    image_credit_yuan: Annotated[Decimal, Field(ge=0)] = Decimal("0.025")  # price of one image credit
    audio_credit_yuan: Annotated[Decimal, Field(ge=0)] = Decimal(1)  # price of one audio credit
    key_cache_ttl_s: Annotated[float, Field(ge=0)] = 5.0  # a revoked key stops working within this
    # A JWT signed with a key's pair: its exp at most this far ahead (Kling's SDKs sign 1 800 s), and its nbf and
    # exp judged with this much skew allowed between the client's clock and the gateway's.
    jwt_max_lifetime_s: Annotated[float, Field(gt=0)] = 86_400.0
    jwt_leeway_s: Annotated[float, Field(ge=0, le=300)] = 10.0
    model_cache_ttl_s: Annotated[float, Field(ge=0)] = 5.0  # the operator's change to a model applies within this
    # Models the upstream no longer serves, by family (the first path segment after /v1; new-generation endpoints
    # are `videos`): a submit naming one is refused at the gateway with Kling's wording (2026 reference §1).
    retired_models: dict[str, tuple[str, ...]] = Field(default_factory=_retired_by_default)
    allow_private_callbacks: bool = False  # let clients' callback_url point at loopback / private addresses
    telemetry: bool = False  # FastAPI's native OpenTelemetry traces, metrics and logs, to the global providers
    redis_url: str | None = None  # redis://host:port/db: share rate limits between API processes
    admission: AdmissionConfig = Field(default_factory=AdmissionConfig)
    sync: SyncConfig = Field(default_factory=SyncConfig)
    billing: BillingConfig = Field(default_factory=BillingConfig)
    downloads: DownloadConfig = Field(default_factory=DownloadConfig)
    store: StoreConfig = Field(default_factory=StoreConfig)
    http: HttpConfig = Field(default_factory=HttpConfig)
    sandbox: SandboxConfig = Field(default_factory=SandboxConfig)
    metrics: MetricsConfig = Field(default_factory=MetricsConfig)
    health: HealthConfig = Field(default_factory=HealthConfig)
    channel_health: ChannelHealthConfig = Field(default_factory=ChannelHealthConfig)
    web: WebConfig = Field(default_factory=WebConfig)

    def resolved_database_url(self) -> str:
        """Name the database to use: the configured URL, else the SQLite file in the data directory."""
        return self.database_url or sqlite_url(self.data_dir)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Load the settings once per process."""
    return Settings()


def hand_down(settings: Settings, names: Iterable[str]) -> None:
    """Have the processes this one starts read these settings as it holds them (the command line's among them):
    each goes to the environment they inherit, as its `KLING_GATEWAY_*` variable."""
    for name, value in settings.model_dump(mode="json", include=set(names)).items():
        if value is not None:
            os.environ[f"{ENV_PREFIX}{name.upper()}"] = value if isinstance(value, str) else json.dumps(value)

"""The gateway's tables. Times are Unix milliseconds; money is integer micro-yuan (µ¥, 10⁻⁶ yuan)."""

from __future__ import annotations

from typing import Any, ClassVar, cast

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, Integer, MetaData, String, Table, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# SQLite only makes INTEGER PRIMARY KEY an auto-incrementing rowid; PostgreSQL gets a 64-bit identity.
Id = BigInteger().with_variant(Integer(), "sqlite")

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Map every table with stable constraint names, so migrations can refer to them."""

    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {int: BigInteger}


class User(Base):
    """Someone who owns keys and tasks and pays for them from a balance."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    balance_micros: Mapped[int] = mapped_column(default=0)
    held_micros: Mapped[int] = mapped_column(default=0)
    video_rate_micros: Mapped[int | None]  # per video credit; None = the gateway default
    image_rate_micros: Mapped[int | None]  # per image credit; None = the gateway default
    audio_rate_micros: Mapped[int | None]  # per audio credit; None = the gateway default
    created_at: Mapped[int]
    # Since when the user is disabled: their keys are refused and they submit nothing; None while active.
    disabled_at: Mapped[int | None]
    note: Mapped[str] = mapped_column(Text, default="", server_default="")  # the operator's, about the user
    password_hash: Mapped[str | None] = mapped_column(String(255))  # Argon2id, for the portal; None: no sign-in
    # When the password was last set: a portal session issued under another value has ended.
    credentials_at: Mapped[int | None]


class ApiKey(Base):
    """A key of a user: a bearer secret (only its SHA-256 is kept) and a pair to sign Kling-style JWTs with."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    name: Mapped[str] = mapped_column(String(64), default="")
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    key_prefix: Mapped[str] = mapped_column(String(16))  # enough to recognise a key in a list, not to use it
    created_at: Mapped[int]
    revoked_at: Mapped[int | None]
    dialect: Mapped[str | None] = mapped_column(String(8))  # the response shape by default; None = kling
    # The pair official Kling SDKs sign HS256 JWTs with. The secret is kept: verifying a signature needs it.
    access_key: Mapped[str | None] = mapped_column(String(64), unique=True)
    secret_key: Mapped[str | None] = mapped_column(String(128))
    # whsec_…: signs the gateway's callbacks to this key's callback_url (Standard Webhooks); shown once, at creation.
    webhook_secret: Mapped[str | None] = mapped_column(String(128))
    rate_limit_rps: Mapped[float | None]  # requests per second this key may make; None = the gateway default
    max_in_flight: Mapped[int | None] = mapped_column(Integer)  # unfinished tasks at once; None = the default


class Channel(Base):
    """One upstream Kling account and how much of its capacity the gateway may use."""

    __tablename__ = "channels"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    base_url: Mapped[str] = mapped_column(String(255))
    # The account's AK/SK pair (legacy generation only) and/or its static API key (both generations).
    access_key: Mapped[str | None] = mapped_column(String(255))
    secret_key: Mapped[str | None] = mapped_column(String(255))
    api_key: Mapped[str | None] = mapped_column(String(255))
    priority: Mapped[int] = mapped_column(Integer, default=0)
    weight: Mapped[int] = mapped_column(Integer, default=1)
    video_concurrency: Mapped[int] = mapped_column(Integer)
    image_concurrency: Mapped[int] = mapped_column(Integer)
    try_on_concurrency: Mapped[int] = mapped_column(Integer)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[int]
    # whsec_…: the account's webhook secret; when set, upstream callbacks must carry a valid signature.
    webhook_secret: Mapped[str | None] = mapped_column(String(255))
    # Why the upstream refused the channel's credentials (401), for the admin; None while they are accepted.
    misconfigured: Mapped[str | None] = mapped_column(Text)
    # When the operator removed the channel. The row stays, disabled and without its secrets, for the tasks that
    # ran on it and the objects made there; listings and selection leave it out. None while it is in use.
    removed_at: Mapped[int | None]


class Task(Base):
    """One asynchronous generation job of a user, as the gateway knows it."""

    __tablename__ = "tasks"
    __table_args__ = (
        UniqueConstraint("user_id", "external_task_id"),
        Index("ix_tasks_user_action_newest", "user_id", "family", "action", "id"),
        Index("ix_tasks_user_family_newest", "user_id", "family", "id"),
        Index("ix_tasks_upstream", "upstream_task_id"),
        Index("ix_tasks_due", "status", "next_sync_at"),
        Index("ix_tasks_key_status", "key_id", "status"),
        Index("ix_tasks_user_newest", "user_id", "id"),
        # The operator's listings: a channel's or a status's tasks newest first, and those since a time.
        Index("ix_tasks_channel_newest", "channel_id", "id"),
        Index("ix_tasks_status_newest", "status", "id"),
        Index("ix_tasks_created_at", "created_at", "id"),
        # A user's tasks in a time window: their usage by day, the portal's gallery from a time.
        Index("ix_tasks_user_created_at", "user_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    platform_id: Mapped[str] = mapped_column(String(40), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    family: Mapped[str] = mapped_column(String(8))
    action: Mapped[str] = mapped_column(String(32))
    external_task_id: Mapped[str | None] = mapped_column(String(255))
    body_hash: Mapped[str] = mapped_column(String(64))  # SHA-256 of the canonical body: what idempotency compares
    request_json: Mapped[str] = mapped_column(Text)  # the body as it goes upstream
    callback_url: Mapped[str | None] = mapped_column(Text)  # the client's own; never sent upstream
    pack_type: Mapped[str] = mapped_column(String(8))
    slots: Mapped[int] = mapped_column(Integer)
    key_id: Mapped[int | None] = mapped_column(ForeignKey("api_keys.id"))  # the key that submitted it
    dialect: Mapped[str | None] = mapped_column(String(8))  # the shape its client callbacks are sent in
    # Where the task is (or is being) sent. For a queued task, set means a create call may be under way there:
    # until the upstream is asked by external id, the task must not be sent anywhere else.
    channel_id: Mapped[int | None] = mapped_column(ForeignKey("channels.id"))
    # The only channel that may take the task: the one owning the video or session it refers to.
    required_channel_id: Mapped[int | None] = mapped_column(ForeignKey("channels.id"))
    send_attempts: Mapped[int] = mapped_column(Integer, default=0)  # create calls made for it so far
    upstream_task_id: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(12))
    status_msg: Mapped[str] = mapped_column(Text, default="")
    task_info_json: Mapped[str] = mapped_column(Text, default="{}")  # the upstream's task_info, e.g. parent_video
    result_json: Mapped[str] = mapped_column(Text, default="{}")  # the upstream's task_result
    watermark: Mapped[bool] = mapped_column(Boolean)
    final_unit_deduction: Mapped[str | None] = mapped_column(String(32))
    rate_micros: Mapped[int]  # price of one credit for this task, fixed at submit
    hold_micros: Mapped[int]
    charge_micros: Mapped[int | None]
    created_at: Mapped[int]
    updated_at: Mapped[int]
    # When a worker next looks at the task: a poll for one in flight, the check of a create whose answer was
    # lost for a queued one. Claiming a task moves it forward by a lease, so a killed worker's tasks come due again.
    next_sync_at: Mapped[int | None]
    sync_failures: Mapped[int] = mapped_column(Integer, default=0)
    # What the output will be, as far as the request tells (None where it cannot be known), and how long a
    # task like this typically takes: what progress estimates and the video shapes' metadata come from.
    model: Mapped[str | None] = mapped_column(String(64))
    seconds: Mapped[int | None] = mapped_column(Integer)
    width: Mapped[int | None] = mapped_column(Integer)
    height: Mapped[int | None] = mapped_column(Integer)
    fps: Mapped[int | None] = mapped_column(Integer)
    expected_ms: Mapped[int | None]
    # Which Kling API the task speaks (legacy | new); a synchronous call (TTS, recognition) is kept as a task
    # that is final at once, so it is billed once and reconciled like any other.
    generation: Mapped[str] = mapped_column(String(8), default="legacy", server_default="legacy")
    sync_call: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    # The upstream's deductions as `billing[]` entries (the legacy final_unit_deduction is also kept above).
    billing_json: Mapped[str] = mapped_column(Text, default="[]", server_default="[]")
    # µ¥ per credit of each package (video, image, audio), fixed at submit: what billing[] entries are charged at.
    rates_json: Mapped[str] = mapped_column(Text, default="{}", server_default="{}")
    # Set when a success could not be billed (e.g. a cash deduction in an unknown currency): for the operator.
    unbilled_reason: Mapped[str | None] = mapped_column(Text)
    # Looks in a row that did not find the task upstream (a GET answering "not found", a `GET /tasks` answer
    # leaving it out), and when the first of them was: missing long enough, it is failed as lost upstream.
    absent_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    absent_since: Mapped[int | None]


class CatalogModel(Base):
    """An operator's word on a model: disabled (refused at the gateway), or a new name validated and priced like
    a model the gateway knows, until a release knows it."""

    __tablename__ = "models"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    like: Mapped[str | None] = mapped_column(String(64))
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[int]
    updated_at: Mapped[int]


class LedgerEntry(Base):
    """One movement of a user's money; append-only, one entry per task and kind at most."""

    __tablename__ = "ledger"
    __table_args__ = (
        UniqueConstraint("task_platform_id", "kind"),
        Index("ix_ledger_user_newest", "user_id", "id"),  # a user's entries newest first, page by page
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    task_platform_id: Mapped[str | None] = mapped_column(String(40))
    kind: Mapped[str] = mapped_column(String(12))
    amount_micros: Mapped[int]
    balance_after_micros: Mapped[int]
    held_after_micros: Mapped[int]
    note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[int]


class ClientCallback(Base):
    """One status change of a task to announce at its client's callback_url: the outbox, one row per change."""

    __tablename__ = "client_callbacks"
    __table_args__ = (
        UniqueConstraint("task_id", "status"),
        Index("ix_client_callbacks_due", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("tasks.id"))
    status: Mapped[str] = mapped_column(String(12))
    message_id: Mapped[str] = mapped_column(String(64), unique=True)  # webhook-id: the same on every retry
    body: Mapped[str] = mapped_column(Text)  # rendered once, in the task's dialect, when the change happened
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[int | None]  # None once delivered or given up
    delivered_at: Mapped[int | None]
    given_up_at: Mapped[int | None]
    last_error: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[int]
    give_up_at: Mapped[int]  # the deadline: retried until then, then given up; a retry by the admin moves it
    # The receiver's host (of the task's callback_url): a worker delivers to one host only so many at once.
    target: Mapped[str] = mapped_column(String(255), default="", server_default="")


class UpstreamObject(Base):
    """A video, session, element or voice an upstream channel made for a user, which later calls must send to that
    channel."""

    __tablename__ = "upstream_objects"
    __table_args__ = (
        UniqueConstraint("user_id", "kind", "object_id"),
        Index("ix_upstream_objects_kind_object_id", "kind", "object_id"),  # whose is an id: any user's
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    kind: Mapped[str] = mapped_column(String(8))  # video | session | element | voice
    object_id: Mapped[str] = mapped_column(String(64))
    channel_id: Mapped[int] = mapped_column(ForeignKey("channels.id"))
    created_at: Mapped[int]
    # What made a video and how long it is (a session: its video's length), where known: what a task working on
    # it is held for. None for objects remembered before these were kept, or whose facts the upstream did not say.
    model: Mapped[str | None] = mapped_column(String(64))
    mode: Mapped[str | None] = mapped_column(String(8))
    duration_ms: Mapped[int | None]


class WorkerHeartbeat(Base):
    """A sync worker's last sign of life: one row per worker process, written as its rounds finish."""

    __tablename__ = "worker_heartbeats"

    worker: Mapped[str] = mapped_column(String(128), primary_key=True)  # host, process id and a random part
    started_at: Mapped[int]
    beat_at: Mapped[int] = mapped_column(index=True)  # when its latest round finished
    rounds: Mapped[int]  # rounds finished since it started


class ChannelHealthRow(Base):
    """What the calls to one channel said lately, and its circuit breaker: one row per channel, which every process
    folds what it saw into and reads, so each one tells the channel's health alike."""

    __tablename__ = "channel_health"

    # No foreign key: the row is derived from calls, and goes with its channel (`channels remove` deletes it).
    channel_id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=False)
    samples_json: Mapped[str] = mapped_column(Text, default="[]")  # the window: [[at_ms, kind, ms], ...], oldest first
    faults_in_row: Mapped[int] = mapped_column(Integer, default=0)
    open_until: Mapped[int | None]  # while set the breaker is open (half-open from then on)
    cooldown_ms: Mapped[int] = mapped_column(default=0)  # the cool-down it opened with last; 0 since a success
    account_fault: Mapped[str | None] = mapped_column(Text)  # why the account refused, until a success
    last_success_at: Mapped[int | None]
    last_error_at: Mapped[int | None]
    last_error: Mapped[str] = mapped_column(Text, default="")  # redacted
    updated_at: Mapped[int]


class Operator(Base):
    """A person who signs in to the console: a name, an argon2id password hash, and whether they may."""

    __tablename__ = "operators"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    # When the password last changed or the account was disabled: a session issued under another value has ended.
    credentials_at: Mapped[int]
    created_at: Mapped[int]


class AuditEntry(Base):
    """One change an operator made (in the console, or on the command line), written with the change itself."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    actor: Mapped[str] = mapped_column(String(80))  # the operator's name, or `cli` for the command line
    action: Mapped[str] = mapped_column(String(64))  # e.g. user.create, key.revoke, channel.update
    target: Mapped[str] = mapped_column(String(255))  # what it was done to: a user's, key's or channel's name or id
    detail_json: Mapped[str] = mapped_column(Text, default="{}")  # what changed; never a secret
    at: Mapped[int] = mapped_column(index=True)


# The same tables for Core statements (the hot path and bulk updates), typed as tables rather than FromClause.
USERS = cast(Table, User.__table__)
API_KEYS = cast(Table, ApiKey.__table__)
CHANNELS = cast(Table, Channel.__table__)
TASKS = cast(Table, Task.__table__)
LEDGER = cast(Table, LedgerEntry.__table__)
CLIENT_CALLBACKS = cast(Table, ClientCallback.__table__)
UPSTREAM_OBJECTS = cast(Table, UpstreamObject.__table__)
MODELS = cast(Table, CatalogModel.__table__)
WORKER_HEARTBEATS = cast(Table, WorkerHeartbeat.__table__)
CHANNEL_HEALTH = cast(Table, ChannelHealthRow.__table__)
OPERATORS = cast(Table, Operator.__table__)
AUDIT_LOG = cast(Table, AuditEntry.__table__)

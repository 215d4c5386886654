"""The store interface: statements with versions, checkpoints with fencing, matches, outbox.

"Store the offset with the output": `commit` writes a partition's operator state, its
consumed offsets, its new matches and one outbox entry per new match in ONE atomic step
(a SQLite transaction, one Redis Lua script on one cluster shard). Match ids are
deterministic, and a match id already stored is ignored, so a replay after a crash
re-creates the same ids and the outbox never holds an id twice. A commit carrying a fence
token lower than the partition's stored epoch raises `FencedError` and writes nothing: a
worker that lost its lease can never commit.

Statements are versioned like `kubectl apply`: the same text again changes nothing, a new
text gets version + 1. Versions of a name are never reused, not even after delete and
re-create, because match ids and checkpointed state are tagged with the version.
Every change bumps `statements_revision()`, which workers poll cheaply.
"""

from __future__ import annotations

import re
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import TYPE_CHECKING, Any

import orjson

from cep.errors import CepError

if TYPE_CHECKING:
    from cep.store.records import Delivery, Resource

__all__ = [
    "OUTBOX_STATUSES",
    "Checkpoint",
    "FencedError",
    "OutboxEntry",
    "StatementConflictError",
    "StatementRecord",
    "Store",
    "StoreError",
    "now_ms",
]

PENDING, DELIVERED, FAILED = "pending", "delivered", "failed"
OUTBOX_STATUSES = (PENDING, DELIVERED, FAILED)
_PARTITION_ID = re.compile(r"^[A-Za-z0-9_.:\-]{1,200}$")


def now_ms() -> int:
    """Wall-clock time in integer milliseconds since the epoch (what every timestamp uses)."""
    return time.time_ns() // 1_000_000


class StoreError(CepError):
    """Root of the store's errors."""


class FencedError(StoreError):
    """A commit (or fence) carried a token lower than the partition's stored epoch."""

    def __init__(self, partition_id: str, token: int, epoch: int) -> None:
        self.partition_id = partition_id
        self.token = token
        self.epoch = epoch
        super().__init__(
            f"partition {partition_id!r}: fence token {token} is lower than epoch {epoch}; "
            "another worker owns it now, nothing was written"
        )


class StatementConflictError(StoreError):
    """A statement name is owned by another tenant."""


@dataclass(frozen=True)
class StatementRecord:
    """One registered statement. Timestamps are unix milliseconds."""

    name: str
    text: str
    version: int
    enabled: bool
    tenant: str
    created_at: int
    updated_at: int
    change: str = field(default="", compare=False)  # put_statement: created|updated|unchanged

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (without `change`)."""
        d = asdict(self)
        del d["change"]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> StatementRecord:
        """Inverse of `to_dict`."""
        return cls(**{k: d[k] for k in _RECORD_FIELDS})


_RECORD_FIELDS = ("name", "text", "version", "enabled", "tenant", "created_at", "updated_at")


@dataclass(frozen=True)
class Checkpoint:
    """A partition's last commit: state bytes, offsets (stream -> next offset), epoch."""

    partition_id: str
    state: bytes
    offsets: dict[str, int]
    epoch: int
    seq: int  # number of commits so far
    committed_at: int


@dataclass(frozen=True)
class OutboxEntry:
    """One action to deliver for a match; `match` is the stored match body."""

    match_id: str
    partition_id: str
    statement: str
    status: str
    attempts: int
    error: str | None
    next_attempt_at: int | None
    created_at: int
    updated_at: int
    match: dict[str, Any] | None = None


class Store(ABC):
    """Statements, checkpoints, matches and the outbox of one deployment."""

    clock: Callable[[], int] = staticmethod(now_ms)

    # ------------------------------------------------------------ statements

    @abstractmethod
    def put_statement(
        self, name: str, text: str, tenant: str = "default", enabled: bool | None = True
    ) -> StatementRecord:
        """Create or update (like kubectl apply); `change` says created/updated/unchanged.

        `enabled=None` keeps the current flag (True for a new statement). Raises
        StatementConflictError if `name` belongs to another tenant.
        """

    @abstractmethod
    def get_statement(self, name: str, tenant: str | None = None) -> StatementRecord | None:
        """The statement called `name` (None if absent or owned by another tenant)."""

    @abstractmethod
    def list_statements(self, tenant: str | None = None) -> list[StatementRecord]:
        """All statements (of `tenant` if given), sorted by name."""

    @abstractmethod
    def set_enabled(
        self, name: str, enabled: bool, tenant: str | None = None
    ) -> StatementRecord | None:
        """Pause or resume (version unchanged); None if absent."""

    @abstractmethod
    def delete_statement(self, name: str, tenant: str | None = None) -> bool:
        """Delete; True if it existed. The version counter of the name is kept."""

    @abstractmethod
    def statements_revision(self) -> int:
        """A counter bumped by every statement change (0 before the first)."""

    # ------------------------------------------------------------ checkpoints

    @abstractmethod
    def load_checkpoint(self, partition_id: str) -> Checkpoint | None:
        """The last commit of `partition_id` (None if it never committed)."""

    @abstractmethod
    def checkpoint_ids(self) -> list[str]:
        """Partition ids that have committed at least once, sorted."""

    @abstractmethod
    def fence(self, partition_id: str, token: int) -> int:
        """Raise the partition's epoch to `token` (a new owner); FencedError if lower."""

    def commit(
        self,
        partition_id: str,
        state: bytes,
        offsets: dict[str, int],
        matches: Sequence[dict[str, Any]],
        fence_token: int | None = None,
    ) -> int:
        """Atomically store state, offsets, new matches and their outbox entries.

        Each match needs `match_id` and `statement`; ids already stored are ignored.
        Returns the number of new matches. `fence_token=None` counts as 0, so once a
        partition was committed with a token, unfenced commits are refused too.
        """
        check_partition_id(partition_id)
        offsets_json = check_offsets(offsets)
        prepared = prepare_matches(matches)
        if not isinstance(state, (bytes, bytearray)):
            raise StoreError("state must be bytes")
        return self._commit(
            partition_id, state, offsets_json, prepared, fence_token or 0, self.clock()
        )

    @abstractmethod
    def _commit(
        self,
        partition_id: str,
        state: bytes,
        offsets_json: bytes,
        prepared: list,
        token: int,
        now: int,
    ) -> int:
        """The backend's one atomic step for `commit`, on validated input."""

    # ------------------------------------------------------------ outbox

    @abstractmethod
    def outbox_pending(self, limit: int = 100, now: int | None = None) -> list[OutboxEntry]:
        """Pending entries due at `now` (ms; default: the clock), oldest due first."""

    @abstractmethod
    def outbox_get(self, match_id: str) -> OutboxEntry | None:
        """One outbox entry with its match (None if absent)."""

    @abstractmethod
    def outbox_mark(
        self,
        match_id: str,
        status: str,
        attempts: int,
        error: str | None = None,
        next_attempt_at: int | None = None,
    ) -> bool:
        """Record a delivery attempt; `pending` + `next_attempt_at` schedules a retry.

        Returns False if the id is not in the outbox.
        """

    @abstractmethod
    def outbox_depth(self) -> int:
        """Number of pending entries (due now or later)."""

    # ------------------------------------------------------------ matches

    @abstractmethod
    def list_matches(
        self, statement: str | None = None, after_cursor: str | None = None, limit: int = 100
    ) -> tuple[list[dict[str, Any]], str | None]:
        """Stored matches in commit order after an opaque cursor, and the cursor to go on.

        The returned cursor is never None once a page was read: an empty page means caught
        up, and the same cursor picks up matches committed later.
        """

    @abstractmethod
    def match_count(self, statement: str | None = None) -> int:
        """Number of stored matches (of `statement` if given)."""

    def latest_match_cursor(self) -> str | None:
        """A cursor after the newest stored match (where a live feed starts)."""
        cursor = None
        while True:
            page, nxt = self.list_matches(None, cursor, 10_000)
            if not page:
                return nxt if nxt is not None else cursor
            cursor = nxt

    # ------------------------------------------------------------ resources (cep.store.records)

    @abstractmethod
    def create_resource(self, kind: str, rid: str, tenant: str, doc: dict[str, Any]) -> bool:
        """Store a new resource; False (and nothing written) if `kind`/`rid` exists."""

    @abstractmethod
    def put_resource(self, kind: str, rid: str, tenant: str, doc: dict[str, Any]) -> Resource:
        """Create or replace a resource."""

    @abstractmethod
    def get_resource(self, kind: str, rid: str, tenant: str | None = None) -> Resource | None:
        """One resource (None if absent or owned by another tenant)."""

    @abstractmethod
    def list_resources(self, kind: str, tenant: str | None = None) -> list[Resource]:
        """Resources of `kind` (of `tenant` if given), sorted by id."""

    @abstractmethod
    def delete_resource(self, kind: str, rid: str, tenant: str | None = None) -> bool:
        """Delete; True if it existed (and belonged to `tenant` if given)."""

    # ------------------------------------------------------------ deliveries (cep.store.records)

    @abstractmethod
    def deliveries_add(self, items: Sequence[Delivery]) -> int:
        """Insert deliveries whose id is new; return how many were new."""

    @abstractmethod
    def deliveries_due(
        self, now: int | None = None, per_endpoint: int = 10, skip_endpoints: Sequence[str] = ()
    ) -> list[Delivery]:
        """Pending deliveries due at `now`: up to `per_endpoint` of each endpoint, oldest first.

        Endpoints in `skip_endpoints` (busy, throttled or disabled) are left out, so one
        endpoint's backlog never hides another's due deliveries.
        """

    @abstractmethod
    def delivery_get(self, did: str, tenant: str | None = None) -> Delivery | None:
        """One delivery (None if absent or owned by another tenant)."""

    @abstractmethod
    def delivery_save(self, d: Delivery) -> bool:
        """Replace an existing delivery's status, attempts, due time and info."""

    @abstractmethod
    def list_deliveries(
        self,
        tenant: str | None = None,
        endpoint_id: str | None = None,
        status: str | None = None,
        statement: str | None = None,
        after_cursor: str | None = None,
        limit: int = 100,
    ) -> tuple[list[Delivery], str | None]:
        """Deliveries newest first, filtered; the cursor to go on (None: no more)."""

    @abstractmethod
    def delivery_counts(
        self, tenant: str | None = None, endpoint_id: str | None = None
    ) -> dict[str, int]:
        """Number of deliveries per status (every status present, 0 if none)."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections and files."""

    # ------------------------------------------------------------ shared logic

    def _next_record(
        self,
        cur: StatementRecord | None,
        last_version: int,
        name: str,
        text: str,
        tenant: str,
        enabled: bool | None,
    ) -> StatementRecord:
        """The record a put produces; `change == "unchanged"` means write nothing."""
        _check_statement(name, text, tenant)
        now = self.clock()
        if cur is not None:
            if cur.tenant != tenant:
                raise StatementConflictError(f"statement {name!r} belongs to another tenant")
            en = cur.enabled if enabled is None else bool(enabled)
            if text == cur.text and en == cur.enabled:
                return replace(cur, change="unchanged")
            version = cur.version + (text != cur.text)
            return replace(
                cur, text=text, version=version, enabled=en, updated_at=now, change="updated"
            )
        return StatementRecord(
            name=name,
            text=text,
            version=last_version + 1,
            enabled=True if enabled is None else bool(enabled),
            tenant=tenant,
            created_at=now,
            updated_at=now,
            change="created",
        )


def _check_statement(name: str, text: str, tenant: str) -> None:
    if not isinstance(name, str) or not 0 < len(name) <= 200 or not name.isprintable():
        raise StoreError(f"invalid statement name {name!r}")
    if not isinstance(text, str):
        raise StoreError("statement text must be a string")
    if not isinstance(tenant, str) or not tenant:
        raise StoreError("tenant must be a non-empty string")


def check_partition_id(partition_id: str) -> str:
    """Validate a partition id: 1-200 of [A-Za-z0-9_.:-] (no braces: Redis hash tags)."""
    if not isinstance(partition_id, str) or not _PARTITION_ID.match(partition_id):
        raise StoreError(f"invalid partition id {partition_id!r}")
    return partition_id


def prepare_matches(matches: Sequence[dict[str, Any]]) -> list[tuple[str, str, bytes]]:
    """(match_id, statement, JSON body) per match, first of each id kept, validated."""
    out: list[tuple[str, str, bytes]] = []
    seen: set[str] = set()
    for i, m in enumerate(matches):
        if not isinstance(m, dict):
            raise StoreError(f"match {i} is not a dict")
        mid, stmt = m.get("match_id"), m.get("statement")
        if not isinstance(mid, str) or not mid or not isinstance(stmt, str) or not stmt:
            raise StoreError(f"match {i} needs string 'match_id' and 'statement'")
        if mid in seen:
            continue
        seen.add(mid)
        try:
            body = orjson.dumps(m)
        except (TypeError, orjson.JSONEncodeError) as e:
            raise StoreError(f"match {i} is not JSON-encodable: {e}") from None
        out.append((mid, stmt, body))
    return out


def check_offsets(offsets: dict[str, int]) -> bytes:
    """Validate and encode a stream -> next offset mapping."""
    if not isinstance(offsets, dict) or not all(
        isinstance(k, str) and isinstance(v, int) and v >= 0 for k, v in offsets.items()
    ):
        raise StoreError("offsets must map stream names to non-negative ints")
    return orjson.dumps(offsets)


def check_mark(status: str, attempts: int) -> None:
    """Validate an outbox_mark call."""
    if status not in OUTBOX_STATUSES:
        raise StoreError(f"status must be one of {', '.join(OUTBOX_STATUSES)}")
    if not isinstance(attempts, int) or attempts < 0:
        raise StoreError("attempts must be a non-negative int")


def check_limit(limit: int) -> None:
    """Validate a page size."""
    if not isinstance(limit, int) or not 1 <= limit <= 10_000:
        raise StoreError("limit must be an int in 1..10000")


def int_cursor(cursor: str | None) -> int:
    """Decode an integer cursor (None: from the start)."""
    if cursor is None:
        return 0
    try:
        pos = int(cursor)
    except (TypeError, ValueError):
        raise StoreError(f"invalid cursor {cursor!r}") from None
    if pos < 0:
        raise StoreError(f"invalid cursor {cursor!r}")
    return pos

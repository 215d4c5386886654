"""Statements, checkpoints, matches and outbox: `Store` interface and its backends."""

from cep.store.base import (
    Checkpoint,
    FencedError,
    OutboxEntry,
    StatementConflictError,
    StatementRecord,
    Store,
    StoreError,
)

__all__ = [
    "Checkpoint",
    "FencedError",
    "OutboxEntry",
    "StatementConflictError",
    "StatementRecord",
    "Store",
    "StoreError",
]

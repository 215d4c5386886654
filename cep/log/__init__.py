"""The partitioned event log: `Log` interface and its SQLite, Redis and memory backends."""

from cep.log.base import (
    EventLimits,
    Log,
    LogError,
    PartitionCountError,
    StreamNotFoundError,
    partition_of,
)

__all__ = [
    "EventLimits",
    "Log",
    "LogError",
    "PartitionCountError",
    "StreamNotFoundError",
    "partition_of",
]

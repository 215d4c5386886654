"""Windowed aggregation (AGGREGATE): assignment, mergeable aggregates, the operator."""

from cep.windows.aggregates import make as make_aggregate
from cep.windows.assign import Hopping, Session, Sliding, Tumbling
from cep.windows.operator import Late, Result, WindowOperator
from cep.windows.spec import EMIT_MODES, AggSpec, WindowSpec

__all__ = [
    "EMIT_MODES",
    "AggSpec",
    "Hopping",
    "Late",
    "Result",
    "Session",
    "Sliding",
    "Tumbling",
    "WindowOperator",
    "WindowSpec",
    "make_aggregate",
]

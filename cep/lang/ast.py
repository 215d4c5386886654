"""The syntax tree: frozen dataclasses, each carrying the source span it came from.

The parser builds these, the checker reads them, the printer turns them back into canonical
text and the compiler lowers them into runtime programs. The runtime never sees this module.

Names inside expressions are kept as written (`Name(parts=("small", "country"))`): whether
`small` is a pattern variable or the first step of a nested attribute path is decided by the
checker/compiler, which know the statement's variables.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = [
    "Action",
    "AfterMatch",
    "Between",
    "Binary",
    "Call",
    "Contains",
    "Define",
    "EmitInto",
    "EmitItem",
    "Expr",
    "Field",
    "InList",
    "IsNull",
    "Like",
    "Literal",
    "Matches",
    "Name",
    "PAlt",
    "PNot",
    "PQuant",
    "PSeq",
    "PVar",
    "Pattern",
    "RuleStmt",
    "Script",
    "SearchStmt",
    "Source",
    "Span",
    "Star",
    "Statement",
    "StreamStmt",
    "Unary",
    "Webhook",
]


@dataclass(frozen=True, slots=True)
class Span:
    """Where a node starts in the source: 1-based line and column, and the char offset."""

    line: int = 0
    column: int = 0
    offset: int = 0


NOSPAN = Span()


def _span() -> Span:
    return field(default=NOSPAN, compare=False, repr=False)  # type: ignore[return-value]


# ---------------------------------------------------------------- expressions


@dataclass(frozen=True, slots=True)
class Literal:
    """A constant: str, int, float, bool or None (NULL)."""

    value: str | int | float | bool | None
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class Name:
    """An attribute path or a variable reference, as written: `amount`, `small.country`."""

    parts: tuple[str, ...]
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class Star:
    """The `*` in `COUNT(*)`."""

    span: Span = _span()


@dataclass(frozen=True, slots=True)
class Call:
    """A function or aggregate call; `func` is upper-cased (`FIRST`, `SUM`, `LOWER`)."""

    func: str
    args: tuple[Expr, ...]
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class Unary:
    """`NOT x` or `-x`."""

    op: str  # "NOT" | "-"
    operand: Expr
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class Binary:
    """A binary operator: AND OR = != < <= > >= + - * / %."""

    op: str
    left: Expr
    right: Expr
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class Between:
    """`x [NOT] BETWEEN low AND high` (inclusive)."""

    operand: Expr
    low: Expr
    high: Expr
    negated: bool = False
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class InList:
    """`x [NOT] IN (a, b, ...)`."""

    operand: Expr
    items: tuple[Expr, ...]
    negated: bool = False
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class IsNull:
    """`x IS [NOT] NULL`."""

    operand: Expr
    negated: bool = False
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class Contains:
    """`list CONTAINS x`, `list CONTAINS ALL (...)`, `list CONTAINS ANY (...)`."""

    operand: Expr
    mode: str  # "ONE" | "ALL" | "ANY"
    items: tuple[Expr, ...]
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class Like:
    """`x [NOT] LIKE 'pat%'` (SQL: % any run, _ one character)."""

    operand: Expr
    pattern: str
    negated: bool = False
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class Matches:
    """`x MATCHES 'regex'` (Python `re.search` semantics)."""

    operand: Expr
    regex: str
    span: Span = _span()


Expr = (
    Literal
    | Name
    | Star
    | Call
    | Unary
    | Binary
    | Between
    | InList
    | IsNull
    | Contains
    | Like
    | Matches
)


# ---------------------------------------------------------------- patterns


@dataclass(frozen=True, slots=True)
class PVar:
    """A pattern variable: matches one event satisfying its DEFINE."""

    name: str
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class PNot:
    """`!v`: no `v` event may occur here (only after `->`; at the end it is absence)."""

    name: str
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class PSeq:
    """A sequence; `joins[i]` is how items[i+1] follows items[i]: "" strict, "->", "->>"."""

    items: tuple[Pattern, ...]
    joins: tuple[str, ...]
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class PAlt:
    """Alternation, left preferred."""

    options: tuple[Pattern, ...]
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class PQuant:
    """A quantifier; `max=None` is unbounded; `skip` is how iterations follow each other."""

    body: Pattern
    min: int
    max: int | None
    greedy: bool = True
    skip: str = ""  # "" contiguous, "->" skip-till-next, "->>" skip-till-any
    span: Span = _span()


Pattern = PVar | PNot | PSeq | PAlt | PQuant


# ---------------------------------------------------------------- statements


@dataclass(frozen=True, slots=True)
class Field:
    """A declared attribute of a stream: name (may be a dotted path) and type."""

    name: str
    type: str  # STRING | INT | FLOAT | BOOL | TIMESTAMP | LIST | OBJECT | ANY
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class StreamStmt:
    """`STREAM name (fields) KEY k TIME t WATERMARK d LATE EVENTS TO s`."""

    name: str
    fields: tuple[Field, ...] | None = None  # None: schema-less
    key: tuple[str, ...] | None = None
    time: tuple[str, ...] | None = None
    watermark_ms: int | None = None
    late_to: str | None = None
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class Source:
    """A stream in FROM, with an optional alias."""

    stream: str
    alias: str | None = None
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class Define:
    """`v AS cond` or `v FROM stream WHERE cond` (cond None: any event of that stream)."""

    var: str
    condition: Expr | None
    stream: str | None = None
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class AfterMatch:
    """`AFTER MATCH SKIP ...`: mode is PAST_LAST | TO_NEXT | TO_FIRST | TO_LAST."""

    mode: str = "PAST_LAST"
    var: str | None = None
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class EmitItem:
    """One emitted field: an expression and its output name."""

    expr: Expr
    alias: str | None = None
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class Webhook:
    """`THEN WEBHOOK 'url' [SECRET 'name']`."""

    url: str
    secret: str | None = None
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class EmitInto:
    """`THEN EMIT INTO stream`."""

    stream: str
    span: Span = _span()


Action = Webhook | EmitInto


@dataclass(frozen=True, slots=True)
class RuleStmt:
    """A RULE: a pattern over the events of each partition key."""

    name: str
    sources: tuple[Source, ...]
    pattern: Pattern
    partition_by: tuple[tuple[str, ...], ...] = ()
    defines: tuple[Define, ...] = ()
    within_ms: int | None = None
    on_timeout_emit: bool = False
    after_match: AfterMatch = AfterMatch()
    emit: tuple[EmitItem, ...] = ()
    actions: tuple[Action, ...] = ()
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class SearchStmt:
    """A SEARCH: a standing query over single events."""

    name: str
    stream: str
    where: Expr | None = None
    emit: tuple[EmitItem, ...] = ()
    actions: tuple[Action, ...] = ()
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class AggItem:
    """One SELECT item of an AGGREGATE: `FUNC(arg[, p]) AS alias` (arg None means `*`).

    func is COUNT, COUNT_DISTINCT, SUM, AVG, MIN, MAX, PERCENTILE or PERCENTILE_APPROX.
    """

    func: str
    arg: tuple[str, ...] | None
    alias: str
    p: int | float | None = None
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class AggregateStmt:
    """An AGGREGATE: windowed aggregation over one stream (window kind TUMBLING, HOPPING,
    SLIDING or SESSION; emit is final, every_update or on_time_then_updates)."""

    name: str
    stream: str
    window_kind: str
    window_ms: int
    select: tuple[AggItem, ...]
    every_ms: int | None = None
    offset_ms: int = 0
    group_by: tuple[tuple[str, ...], ...] = ()
    having: Expr | None = None
    allowed_lateness_ms: int = 0
    emit: str = "final"
    actions: tuple[Action, ...] = ()
    span: Span = _span()


# JOIN, TABLE and VIEW statements add their own dataclasses here.
Statement = StreamStmt | RuleStmt | SearchStmt | AggregateStmt


@dataclass(frozen=True, slots=True)
class Script:
    """A parsed file: its statements in order."""

    statements: tuple[Statement, ...]
    source_name: str = ""

"""The rule language grammar, in pyparsing: tokens, expressions, patterns, statements.

Why pyparsing: the grammar reads like the language reference and stays in one place. Parse
actions only build AST nodes (no lookups, no checks beyond the grammar itself); names,
types and limits are the checker's job. Each statement kind is one entry of `STATEMENTS`,
keyed by its first keyword: AGGREGATE, JOIN, TABLE and VIEW are added as new entries (and
new clause alternatives) without touching the existing ones.

Spans: actions call `POS(loc)`, which the parser points at the file being parsed (offset of
the statement, line starts), so every node carries its file position. The parser holds a
lock around each parse; the grammar objects themselves are built once, at import.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from fractions import Fraction
from typing import Any

import pyparsing as pp

from cep.lang import ast
from cep.lang.scan import span_at

__all__ = [
    "COMMENT_RE",
    "EXPRESSION",
    "IDENT_RE",
    "NAME_RE",
    "NUMBER_RE",
    "PATTERN",
    "POS",
    "QIDENT_RE",
    "RESERVED",
    "RESERVED_RE",
    "STATEMENTS",
    "STRING_RE",
    "TYPES",
    "GrammarError",
    "name_parts",
    "number_value",
    "unquote_string",
]

# ---------------------------------------------------------------- tokens

RESERVED = frozenset({
    "AND", "OR", "NOT", "IN", "IS", "NULL", "BETWEEN", "LIKE", "MATCHES", "CONTAINS", "TRUE",
    "FALSE", "AS", "FROM", "WHERE", "DEFINE", "PATTERN", "WITHIN", "EMIT", "THEN", "RULE",
    "SEARCH", "STREAM", "PARTITION", "AFTER",
})  # fmt: skip
TYPES = {
    "STRING": "STRING", "INT": "INT", "FLOAT": "FLOAT", "BOOL": "BOOL",
    "TIMESTAMP": "TIMESTAMP", "LIST": "LIST", "OBJECT": "OBJECT", "ANY": "ANY",
    "NUMBER": "FLOAT", "INTEGER": "INT", "BOOLEAN": "BOOL", "TEXT": "STRING",
}  # fmt: skip

IDENT_RE = r"[A-Za-z_][A-Za-z0-9_]*"
QIDENT_RE = r'"(?=[^"]|"")[^"\n]*(?:""[^"\n]*)*"'
RESERVED_RE = r"(?i:" + "|".join(sorted(RESERVED, key=len, reverse=True)) + r")(?![A-Za-z0-9_])"
_NAME1_RE = rf"(?:(?!{RESERVED_RE}){IDENT_RE}|{QIDENT_RE})"
NAME_RE = rf"{_NAME1_RE}(?:\.(?:{IDENT_RE}|{QIDENT_RE}))*"
NUMBER_RE = r"\d+(?:_\d+)*(?:\.\d+(?:_\d+)*)?(?:[eE][+-]?\d+)?(?![A-Za-z0-9_])"
STRING_RE = r"'[^']*(?:''[^']*)*'"
COMMENT_RE = r"--[^\n\r]*|/\*.*?\*/"
_DURATION_RE = (
    r"(\d+(?:_\d+)*(?:\.\d+)?)[ \t]*(milliseconds?|millis|ms|seconds?|secs?|s|minutes?|mins?|m"
    r"|hours?|h|days?|d)(?![A-Za-z0-9_])"
)
_PART = re.compile(rf"{IDENT_RE}|{QIDENT_RE}")


def unquote_string(text: str) -> str:
    """Return the value of a single-quoted string token."""
    return text[1:-1].replace("''", "'")


def _unquote_ident(text: str) -> str:
    return text[1:-1].replace('""', '"') if text.startswith('"') else text


def name_parts(raw: str) -> tuple[str, ...]:
    """Split a dotted name token (`a.b`, `"key".x`) into its unquoted parts."""
    if '"' not in raw:
        return tuple(raw.split("."))
    return tuple(_unquote_ident(m.group()) for m in _PART.finditer(raw))


def number_value(text: str) -> int | float:
    """Return the value of a number token; ValueError if it is out of range."""
    if "." in text or "e" in text or "E" in text:
        value = float(text)
        if not math.isfinite(value):
            raise ValueError(text)
        return value
    return int(text)  # ValueError past sys.get_int_max_str_digits()


def _unit_ms(unit: str) -> int:
    u = unit.lower()
    if u in ("ms", "millis") or u.startswith("milli"):
        return 1
    return {"s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}[u[0]]


def _duration_ms(m: re.Match[str]) -> int:
    ms = Fraction(m.group(1).replace("_", "")) * _unit_ms(m.group(2))
    if ms.denominator != 1:
        raise ValueError("a duration must be a whole number of milliseconds")
    return int(ms)


_Action = Callable[[str, int, pp.ParseResults], object]


class GrammarError(pp.ParseFatalException):
    """A syntax error worded for humans, raised from a parse action; stops the parse."""


class _Positions:
    """Maps an offset inside the statement being parsed to its Span in the file."""

    __slots__ = ("base", "starts")

    def __init__(self) -> None:
        self.base = 0
        self.starts = [0]

    def __call__(self, loc: int) -> ast.Span:
        return span_at(self.starts, self.base + loc)


POS = _Positions()


def _kw(word: str) -> pp.ParserElement:
    return pp.CaselessKeyword(word).set_name(word)


def _kws(word: str) -> pp.ParserElement:
    return _kw(word).suppress()


def _lit(ch: str) -> pp.ParserElement:
    return pp.Literal(ch).set_name(f"'{ch}'")


def _regex(pattern: str, name: str, flags: int = 0, as_match: bool = False) -> pp.ParserElement:
    return pp.Regex(pattern, flags=flags, as_match=as_match).set_name(name)


def _fail(message: str) -> _Action:
    """An action that turns a match into a GrammarError with `message` (may use {0})."""

    def action(s: str, loc: int, t: pp.ParseResults) -> None:
        raise GrammarError(s, loc, message.format(t[0]))

    return action


LP, RP, COMMA = _lit("(").suppress(), _lit(")").suppress(), _lit(",").suppress()
_END = pp.StringEnd().set_name("end of statement")


def _items(item: pp.ParserElement) -> pp.ParserElement:
    return item + pp.ZeroOrMore(COMMA - item)


ident = _regex(_NAME1_RE, "a name").add_parse_action(lambda s, loc, t: _unquote_ident(t[0]))
path = _regex(NAME_RE, "an attribute name").add_parse_action(lambda s, loc, t: name_parts(t[0]))
string_value = _regex(STRING_RE, "a string in single quotes").add_parse_action(
    lambda s, loc, t: unquote_string(t[0])
)


def _duration(s: str, loc: int, t: pp.ParseResults) -> int:
    try:
        return _duration_ms(t[0])
    except ValueError as exc:
        raise GrammarError(s, loc, str(exc)) from None


duration = _regex(_DURATION_RE, "a duration such as 10m", re.I, as_match=True)
duration.add_parse_action(_duration)

# ---------------------------------------------------------------- expressions

expr = pp.Forward().set_name("an expression")


def _number(s: str, loc: int, t: pp.ParseResults) -> ast.Literal:
    try:
        return ast.Literal(number_value(t[0]), POS(loc))
    except ValueError:
        raise GrammarError(s, loc, f"number out of range: {t[0][:30]}") from None


def _name_or_call(s: str, loc: int, t: pp.ParseResults) -> ast.Name | ast.Call:
    raw = t[0]
    if len(t) == 1:
        return ast.Name(name_parts(raw), POS(loc))
    if '"' in raw or "." in raw:
        raise GrammarError(s, loc, f"{raw} is not a function name")
    return ast.Call(raw.upper(), tuple(t[1]), POS(loc))


_star = _lit("*").add_parse_action(lambda s, loc, t: ast.Star(POS(loc)))
_call_args = pp.Group(LP - pp.Opt(_star | _items(expr)) - RP)
_CONSTANTS = {"TRUE": True, "FALSE": False, "NULL": None}
primary = (  # most frequent first: each failed alternative costs a pyparsing exception
    (_regex(NAME_RE, "a name") + pp.Opt(_call_args)).add_parse_action(_name_or_call)
    | _regex(NUMBER_RE, "a number").add_parse_action(_number)
    | _regex(STRING_RE, "a string").add_parse_action(
        lambda s, loc, t: ast.Literal(unquote_string(t[0]), POS(loc))
    )
    | (LP - expr - RP)
    | _regex(r"(?i:TRUE|FALSE|NULL)(?![A-Za-z0-9_$])", "TRUE, FALSE or NULL").add_parse_action(
        lambda s, loc, t: ast.Literal(_CONSTANTS[t[0].upper()], POS(loc))
    )
).set_name("an expression")


def _prefix(op: str) -> _Action:
    """Fold `op op op x` (tokens: op offsets, then the operand) into nested Unary nodes."""

    def action(s: str, loc: int, t: pp.ParseResults) -> object:
        node = t[-1]
        for i in range(len(t) - 2, -1, -1):
            node = ast.Unary(op, node, POS(t[i]))
        return node

    return action


def _left(op: str | None = None) -> _Action:
    """Fold `a op b op c` left-associatively; with `op` None the operators are tokens."""

    def action(s: str, loc: int, t: pp.ParseResults) -> object:
        if len(t) == 1:
            return t[0]
        span, node = POS(loc), t[0]
        if op is None:
            for i in range(1, len(t), 2):
                node = ast.Binary(t[i], node, t[i + 1], span)
        else:
            for i in range(1, len(t)):
                node = ast.Binary(op, node, t[i], span)
        return node

    return action


_minus = _lit("-").add_parse_action(lambda s, loc, t: loc)
unary = (pp.ZeroOrMore(_minus) + primary).add_parse_action(_prefix("-"))
mul = (unary + pp.ZeroOrMore(_regex(r"[*/%]", "an operator") - unary)).add_parse_action(_left())
add = (mul + pp.ZeroOrMore(_regex(r"[+-]", "an operator") - mul)).add_parse_action(_left())

_CMP_RE = r"<=|>=|<>|!=|=|<|>"
_cmp = (_regex(_CMP_RE, "a comparison") - add).add_parse_action(
    lambda s, loc, t: ("CMP", "!=" if t[0] == "<>" else t[0], t[1])
)
_between = (_kws("BETWEEN") - add - _kws("AND") - add).add_parse_action(
    lambda s, loc, t: ("BETWEEN", t[0], t[1])
)
_in = (_kws("IN") - LP - _items(expr) - RP).add_parse_action(lambda s, loc, t: ("IN", tuple(t)))
_is = (_kw("IS") - pp.Opt(_kw("NOT")) - _kw("NULL")).add_parse_action(
    lambda s, loc, t: ("IS", len(t) == 3)
)
_contains = (
    _kws("CONTAINS")
    - ((_kw("ALL") | _kw("ANY")) + LP - _items(expr) - RP | add).set_name(
        "a value, ALL (...) or ANY (...)"
    )
).add_parse_action(
    lambda s, loc, t: (
        ("CONTAINS", t[0], tuple(t[1:])) if isinstance(t[0], str) else ("CONTAINS", "ONE", (t[0],))
    )
)
_like = (_kws("LIKE") - string_value).add_parse_action(lambda s, loc, t: ("LIKE", t[0]))
_matches = (_kws("MATCHES") - string_value).add_parse_action(lambda s, loc, t: ("MATCHES", t[0]))
_negated = (
    _kws("NOT") - (_between | _in | _like).set_name("BETWEEN, IN or LIKE after NOT")
).add_parse_action(lambda s, loc, t: ("NOT", t[0]))
_chained = _regex(_CMP_RE, "a comparison").add_parse_action(
    _fail("comparisons cannot be chained; combine them with AND")
)


def _predicate(s: str, loc: int, t: pp.ParseResults) -> object:
    if len(t) == 1:
        return t[0]
    operand, tail, span = t[0], t[1], POS(loc)
    negated = tail[0] == "NOT"
    if negated:
        tail = tail[1]
    kind = tail[0]
    if kind == "CMP":
        return ast.Binary(tail[1], operand, tail[2], span)
    if kind == "BETWEEN":
        return ast.Between(operand, tail[1], tail[2], negated, span)
    if kind == "IN":
        return ast.InList(operand, tail[1], negated, span)
    if kind == "IS":
        return ast.IsNull(operand, tail[1], span)
    if kind == "CONTAINS":
        return ast.Contains(operand, tail[1], tail[2], span)
    if kind == "LIKE":
        return ast.Like(operand, tail[1], negated, span)
    return ast.Matches(operand, tail[1], span)


_tail = pp.FollowedBy(  # one cheap look before trying eight alternatives
    _regex(r"(?i:NOT|BETWEEN|IN|IS|CONTAINS|LIKE|MATCHES)(?![A-Za-z0-9_$])|[<>=!]", "a predicate")
) + (_negated | _cmp | _between | _in | _is | _contains | _like | _matches)
predicate = (add + pp.Opt(_tail + pp.Opt(_chained))).add_parse_action(_predicate)
_not = _kw("NOT").add_parse_action(lambda s, loc, t: loc)
not_expr = (pp.ZeroOrMore(_not) + predicate).add_parse_action(_prefix("NOT"))
and_expr = (not_expr + pp.ZeroOrMore(_kws("AND") - not_expr)).add_parse_action(_left("AND"))
or_expr = (and_expr + pp.ZeroOrMore(_kws("OR") - and_expr)).add_parse_action(_left("OR"))
expr <<= or_expr

# ---------------------------------------------------------------- patterns

pattern = pp.Forward().set_name("a pattern")

_QUANT_RE = r"(?:(->>?)(?=[+*{]))?(?:([?*+])|\{[ \t]*(\d*)[ \t]*(?:(,)[ \t]*(\d*)[ \t]*)?\})(\?)?"


def _quant(s: str, loc: int, t: pp.ParseResults) -> tuple[int, int | None, bool, str]:
    m = t[0]
    skip, sym, low, comma, high, lazy = m.groups()
    try:
        if sym:
            lo, hi = {"?": (0, 1), "*": (0, None), "+": (1, None)}[sym]
        elif not comma:
            if not low:
                raise GrammarError(s, loc, "expected a number in '{}'")
            lo = hi = int(low)
        else:
            if not low and not high:
                raise GrammarError(s, loc, "expected a number in '{,}'")
            lo, hi = int(low or 0), (int(high) if high else None)
    except ValueError:
        raise GrammarError(s, loc, "quantifier bound out of range") from None
    return (lo, hi, not lazy, skip or "")


_quantifier = _regex(_QUANT_RE, "a quantifier", as_match=True).add_parse_action(_quant)
_pvar = ident.copy().add_parse_action(lambda s, loc, t: ast.PVar(t[0], POS(loc)))
_pnot = (_lit("!").suppress() - ident).add_parse_action(lambda s, loc, t: ast.PNot(t[0], POS(loc)))
_atom = _pvar | (LP - pattern - RP)


def _item(s: str, loc: int, t: pp.ParseResults) -> object:
    if len(t) == 1:
        return t[0]
    lo, hi, greedy, skip = t[1]
    return ast.PQuant(t[0], lo, hi, greedy, skip, POS(loc))


def _seq(s: str, loc: int, t: pp.ParseResults) -> object:
    if len(t) == 1:
        return t[0]
    items: list[ast.Pattern] = []
    joins: list[str] = []
    pending = ""
    for tok in t:
        if isinstance(tok, str):
            pending = tok
        else:
            if items:
                joins.append(pending)
            items.append(tok)
            pending = ""
    return ast.PSeq(tuple(items), tuple(joins), POS(loc))


_pitem = (_pnot | (_atom + pp.Opt(_quantifier)).add_parse_action(_item)).set_name(
    "a pattern variable, '(' or '!'"
)
_join = _regex(r"->>|->", "'->'")
_pseq = (_pitem + pp.ZeroOrMore((_join - _pitem) | _pitem)).add_parse_action(_seq)
pattern <<= (_pseq + pp.ZeroOrMore(_lit("|").suppress() - _pseq)).add_parse_action(
    lambda s, loc, t: t[0] if len(t) == 1 else ast.PAlt(tuple(t), POS(loc))
)

# ---------------------------------------------------------------- statements

_CLAUSE_TITLE = {
    "PARTITION": "PARTITION BY",
    "AFTER": "AFTER MATCH",
    "LATE": "LATE EVENTS TO",
    "GROUP": "GROUP BY",
    "ALLOWED": "ALLOWED LATENESS",
}


def _first(t: pp.ParseResults) -> object:
    return t[0]


def _clause(
    kind: str, element: pp.ParserElement, value: Callable[[pp.ParseResults], object] = _first
) -> pp.ParserElement:
    """A clause yields (kind, offset, value), so statements can reject duplicates by place."""
    return element.add_parse_action(lambda s, loc, t: (kind, loc, value(t)))


def _clauses(s: str, tokens: list[tuple[str, int, Any]]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for kind, loc, value in tokens:
        if kind in seen:
            title = _CLAUSE_TITLE.get(kind, kind)
            raise GrammarError(s, loc, f"duplicate {title} clause")
        seen[kind] = value
    return seen


_unknown_clause = _regex(IDENT_RE, "a clause").add_parse_action(_fail("unknown clause '{0}'"))
_emit_item = (expr + pp.Opt(_kws("AS") - ident)).add_parse_action(
    lambda s, loc, t: ast.EmitItem(t[0], t[1] if len(t) > 1 else None, POS(loc))
)
_webhook = (
    _kws("WEBHOOK") - string_value + pp.Opt(_kws("SECRET") - string_value)
).add_parse_action(lambda s, loc, t: ast.Webhook(t[0], t[1] if len(t) > 1 else None, POS(loc)))
_emit_into = (_kws("EMIT") - _kws("INTO") - ident).add_parse_action(
    lambda s, loc, t: ast.EmitInto(t[0], POS(loc))
)
_action = (_webhook | _emit_into).set_name("WEBHOOK 'url' or EMIT INTO stream")
_emit_clause = _clause("EMIT", _kws("EMIT") - _items(_emit_item), tuple)
_then_clause = _clause("THEN", _kws("THEN") - _items(_action), tuple)
_where_clause = _clause("WHERE", _kws("WHERE") - expr)

# RULE

_alias = _kws("AS") - ident | ident + pp.FollowedBy(
    _lit(",") | _regex(RESERVED_RE, "a clause") | pp.StringEnd()
)
_source = (ident + pp.Opt(_alias)).add_parse_action(
    lambda s, loc, t: ast.Source(t[0], t[1] if len(t) > 1 else None, POS(loc))
)
_define = (
    ident
    - (
        (_kws("AS") - expr).add_parse_action(lambda s, loc, t: (t[0], None))
        | (_kws("FROM") - ident + pp.Opt(_kws("WHERE") - expr)).add_parse_action(
            lambda s, loc, t: (t[1] if len(t) > 1 else None, t[0])
        )
    ).set_name("AS or FROM")
).add_parse_action(lambda s, loc, t: ast.Define(t[0], t[1][0], t[1][1], POS(loc)))
_event = (_kw("EVENT") | _kw("ROW")).set_name("EVENT")
_skip_to = (
    (_kws("PAST") - _kws("LAST") - _event).add_parse_action(lambda s, loc, t: ("PAST_LAST", None))
    | (
        _kws("TO")
        - (
            (_kws("NEXT") - _event).add_parse_action(lambda s, loc, t: ("TO_NEXT", None))
            | (_kws("FIRST") - ident).add_parse_action(lambda s, loc, t: ("TO_FIRST", t[0]))
            | (_kws("LAST") - ident).add_parse_action(lambda s, loc, t: ("TO_LAST", t[0]))
        ).set_name("NEXT EVENT, FIRST v or LAST v")
    )
).set_name("PAST LAST EVENT or TO ...")
_after = (_kws("AFTER") - _kws("MATCH") - _kws("SKIP") - _skip_to).add_parse_action(
    lambda s, loc, t: ("AFTER", loc, ast.AfterMatch(t[0][0], t[0][1], POS(loc)))
)
_rule_clause = (
    _clause("PARTITION", _kws("PARTITION") - _kws("BY") - _items(path), tuple)
    | _clause("PATTERN", _kws("PATTERN") - LP - pattern - RP)
    | _clause("DEFINE", _kws("DEFINE") - _items(_define), tuple)
    | _clause("WITHIN", _kws("WITHIN") - duration + pp.Opt(
        _kws("ON") - _kws("TIMEOUT") - _kw("EMIT")), lambda t: (t[0], len(t) > 1))
    | _after
    | _emit_clause
    | _then_clause
    | _unknown_clause
)  # fmt: skip


def _rule(s: str, loc: int, t: pp.ParseResults) -> ast.RuleStmt:
    c = _clauses(s, t[2:])
    if "PATTERN" not in c:
        raise GrammarError(s, loc, "a RULE needs a PATTERN (...) clause")
    within_ms, on_timeout = c.get("WITHIN", (None, False))
    return ast.RuleStmt(
        name=t[0],
        sources=tuple(t[1]),
        pattern=c["PATTERN"],
        partition_by=c.get("PARTITION", ()),
        defines=c.get("DEFINE", ()),
        within_ms=within_ms,
        on_timeout_emit=on_timeout,
        after_match=c.get("AFTER", ast.AfterMatch()),
        emit=c.get("EMIT", ()),
        actions=c.get("THEN", ()),
        span=POS(loc),
    )


rule_stmt = (
    _kws("RULE") - ident - _kws("FROM") - pp.Group(_items(_source))
    - pp.ZeroOrMore(_rule_clause) - _END
).add_parse_action(_rule)  # fmt: skip

# SEARCH


def _search(s: str, loc: int, t: pp.ParseResults) -> ast.SearchStmt:
    c = _clauses(s, t[2:])
    return ast.SearchStmt(
        name=t[0],
        stream=t[1],
        where=c.get("WHERE"),
        emit=c.get("EMIT", ()),
        actions=c.get("THEN", ()),
        span=POS(loc),
    )


_search_clause = (
    _where_clause
    | _emit_clause
    | _then_clause
    | _lit(",").add_parse_action(_fail("a SEARCH reads a single stream"))
    | _unknown_clause
)
search_stmt = (
    _kws("SEARCH") - ident - _kws("FROM") - ident - pp.ZeroOrMore(_search_clause) - _END
).add_parse_action(_search)

# STREAM


def _type(s: str, loc: int, t: pp.ParseResults) -> str:
    name = TYPES.get(t[0].upper())
    if name is None:
        raise GrammarError(s, loc, f"unknown type '{t[0]}' (expected {', '.join(list(TYPES)[:8])})")
    return name


_field = path + _regex(IDENT_RE, "a type such as STRING or INT").add_parse_action(_type)
_field.add_parse_action(lambda s, loc, t: ast.Field(".".join(t[0]), t[1], POS(loc)))
_stream_clause = (
    _clause("KEY", _kws("KEY") - path)
    | _clause("TIME", _kws("TIME") - path)
    | _clause("WATERMARK", _kws("WATERMARK") - duration)
    | _clause("LATE", _kws("LATE") - _kws("EVENTS") - _kws("TO") - ident)
    | _unknown_clause
)


def _stream(s: str, loc: int, t: pp.ParseResults) -> ast.StreamStmt:
    fields = None
    rest = t[1:]
    if rest and isinstance(rest[0], pp.ParseResults):
        fields, rest = tuple(rest[0]), rest[1:]
    c = _clauses(s, rest)
    return ast.StreamStmt(
        name=t[0],
        fields=fields,
        key=c.get("KEY"),
        time=c.get("TIME"),
        watermark_ms=c.get("WATERMARK"),
        late_to=c.get("LATE"),
        span=POS(loc),
    )


stream_stmt = (
    _kws("STREAM") - ident - pp.Opt(pp.Group(LP - _items(_field) - RP))
    - pp.ZeroOrMore(_stream_clause) - _END
).add_parse_action(_stream)  # fmt: skip

# AGGREGATE

AGG_FUNCS = ("COUNT", "SUM", "AVG", "MIN", "MAX", "PERCENTILE", "PERCENTILE_APPROX")


def _agg_item(s: str, loc: int, t: pp.ParseResults) -> ast.AggItem:
    func = t[0].upper()
    if func not in AGG_FUNCS:
        raise GrammarError(s, loc, f"unknown aggregate '{t[0]}' (expected {', '.join(AGG_FUNCS)})")
    arg, rest = t[1], list(t[2:-1])
    if arg == "*":
        if func != "COUNT":
            raise GrammarError(s, loc, f"{func}(*) is not allowed; only COUNT(*)")
        arg = None
    elif arg == "DISTINCT":
        if func != "COUNT":
            raise GrammarError(s, loc, "DISTINCT is only allowed in COUNT(DISTINCT x)")
        func, arg, rest = "COUNT_DISTINCT", rest[0], rest[1:]
    p = None
    if rest:
        if not func.startswith("PERCENTILE"):
            raise GrammarError(s, loc, f"{func} takes one argument")
        p = number_value(rest[0])
    elif func.startswith("PERCENTILE"):
        raise GrammarError(s, loc, f"{func} needs a percentile: {func}(x, p)")
    return ast.AggItem(func, arg, t[-1], p, POS(loc))


_agg_arg = (
    _lit("*")
    | _kw("DISTINCT").add_parse_action(lambda s, loc, t: "DISTINCT") - path
    | path + pp.Opt(COMMA - _regex(NUMBER_RE, "a number"))
)
_agg = (
    _regex(IDENT_RE, "an aggregate such as COUNT") + LP - _agg_arg - RP - _kws("AS") - ident
).add_parse_action(_agg_item)
_window = (
    (_kw("TUMBLING") - duration)
    | (_kw("HOPPING") - duration - _kws("EVERY") - duration)
    | (_kw("SLIDING") - duration)
    | (_kw("SESSION") - _kws("GAP") - duration)
).set_name("TUMBLING d, HOPPING d EVERY s, SLIDING d or SESSION GAP g")
_agg_emit = (
    (_kws("ON") - (_kw("CLOSE") | (_kws("TIME") - _kws("THEN") - _kw("UPDATES")))).add_parse_action(
        lambda s, loc, t: "final" if t[0].upper() == "CLOSE" else "on_time_then_updates"
    )
    | _kw("CHANGES").add_parse_action(lambda s, loc, t: "every_update")
).set_name("ON CLOSE, CHANGES or ON TIME THEN UPDATES")
_aggregate_clause = (
    _clause("GROUP", _kws("GROUP") - _kws("BY") - _items(path), tuple)
    | _clause("WINDOW", _kws("WINDOW") - _window, tuple)
    | _clause("OFFSET", _kws("OFFSET") - duration)
    | _clause("SELECT", _kws("SELECT") - _items(_agg), tuple)
    | _clause("HAVING", _kws("HAVING") - expr)
    | _clause("ALLOWED", _kws("ALLOWED") - _kws("LATENESS") - duration)
    | _clause("EMIT", _kws("EMIT") - _agg_emit)
    | _then_clause
    | _lit(",").add_parse_action(_fail("an AGGREGATE reads a single stream"))
    | _unknown_clause
)


def _aggregate(s: str, loc: int, t: pp.ParseResults) -> ast.AggregateStmt:
    c = _clauses(s, t[2:])
    for need in ("WINDOW", "SELECT"):
        if need not in c:
            raise GrammarError(s, loc, f"an AGGREGATE needs a {need} clause")
    w = c["WINDOW"]
    return ast.AggregateStmt(
        name=t[0],
        stream=t[1],
        window_kind=w[0].upper(),
        window_ms=w[1],
        every_ms=w[2] if len(w) > 2 else None,
        offset_ms=c.get("OFFSET", 0),
        select=c["SELECT"],
        group_by=c.get("GROUP", ()),
        having=c.get("HAVING"),
        allowed_lateness_ms=c.get("ALLOWED", 0),
        emit=c.get("EMIT", "final"),
        actions=c.get("THEN", ()),
        span=POS(loc),
    )


aggregate_stmt = (
    _kws("AGGREGATE") - ident - _kws("FROM") - ident - pp.ZeroOrMore(_aggregate_clause) - _END
).add_parse_action(_aggregate)

# ---------------------------------------------------------------- entry points

#: Statement grammars by first keyword; the parser dispatches on the first word.
STATEMENTS: dict[str, pp.ParserElement] = {
    "RULE": rule_stmt,
    "SEARCH": search_stmt,
    "STREAM": stream_stmt,
    "AGGREGATE": aggregate_stmt,
}
EXPRESSION = expr + _END
PATTERN = pattern + _END

# Comments are blanked out by the parser before the grammar runs (scan.blank_comments):
# pyparsing's ignore() would try the comment expression before every single token.
for _top in (*STATEMENTS.values(), EXPRESSION, PATTERN):
    _top.parse_with_tabs()
    _top.streamline()

"""The structured JSON form of a SEARCH, compiled to the same `ast.SearchStmt` as the text.

Why a JSON form: applications that generate saved searches (a form on a website) should
not build rule text by string concatenation. Why compile to the AST: a search written in
JSON and the same search written as text are then *the same statement* (equal ASTs, same
matches, same ids), and everything downstream (checker, printer, index) is shared. The
shape, with its JSON Schema in `docs/search-json.schema.json`:

    {"name": "s42", "from": "listings",
     "where": {"city": "Seoul", "district": null,
               "price": {"gte": 300000, "lte": 500000}, "rooms": {"gte": 3},
               "features": {"all": ["parking", "elevator"]}},
     "emit": ["listing_id", "price"], "then": [{"webhook": "https://..."}]}

In `where`, each key is an attribute path (dots reach into objects) and all keys must hold:
a bare value means `=`, `null` means no constraint, an operator object takes `eq ne in nin
gt gte lt lte all any contains exists prefix` (several operators: all must hold), and the
keys `or`/`and` (lists of where objects) and `not` (one where object) combine. Every error
names the JSON path of the offending value (`$.where.price.gte`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from typing import Any

from cep.errors import CepError
from cep.lang import ast

__all__ = [
    "MAX_DEPTH",
    "MAX_ITEMS",
    "MAX_NODES",
    "SearchJsonError",
    "read_searches",
    "search_from_json",
]

MAX_DEPTH = 32  # nesting of or/and/not
MAX_NODES = 10_000  # predicates in one search
MAX_ITEMS = 10_000  # values in one in/nin/all/any list
MAX_TEXT = 65_536  # characters of one string value
_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_OPS = (
    "eq",
    "ne",
    "in",
    "nin",
    "gt",
    "gte",
    "lt",
    "lte",
    "all",
    "any",
    "contains",
    "exists",
    "prefix",
)
_CMP = {"eq": "=", "ne": "!=", "gt": ">", "gte": ">=", "lt": "<", "lte": "<="}
_TOP = ("name", "from", "where", "emit", "then")


class SearchJsonError(CepError):
    """A JSON search that cannot be compiled; `path` locates the value (`$.where.price`)."""

    def __init__(self, path: str, message: str) -> None:
        self.path = path
        self.message = message
        super().__init__(f"{path}: {message}")

    def to_dict(self) -> dict[str, str]:
        """JSON-ready form for the API."""
        return {"path": self.path, "message": self.message}


def _lit(v: Any, path: str) -> ast.Expr:
    """A literal as the parser would build it (negative numbers are `-` applied to one)."""
    t = type(v)
    if t is bool or t is str:
        if t is str and len(v) > MAX_TEXT:
            raise SearchJsonError(path, f"string longer than {MAX_TEXT} characters")
        return ast.Literal(v)
    if t is int or t is float:
        if t is float and not math.isfinite(v):
            raise SearchJsonError(path, "numbers must be finite")
        if v < 0 or (t is float and math.copysign(1.0, v) < 0):
            return ast.Unary("-", ast.Literal(-v))
        return ast.Literal(v)
    raise SearchJsonError(path, f"expected a string, number or boolean, not {_kind(v)}")


def _kind(v: Any) -> str:
    if v is None:
        return "null"
    return {dict: "an object", list: "an array", str: "a string", bool: "a boolean"}.get(
        type(v), "a number" if isinstance(v, (int, float)) else type(v).__name__
    )


def _and(parts: list[ast.Expr]) -> ast.Expr | None:
    out: ast.Expr | None = None
    for p in parts:
        out = p if out is None else ast.Binary("AND", out, p)
    return out


def _operands(e: ast.Expr, op: str) -> list[ast.Expr]:
    """The operands of a left-deep chain of one operator (as the parser builds chains)."""
    out: list[ast.Expr] = []
    while isinstance(e, ast.Binary) and e.op == op:
        out.append(e.right)
        e = e.left
    out.append(e)
    out.reverse()
    return out


class _Compiler:
    """Walks one `where` object, counting predicates to bound hostile input."""

    def __init__(self) -> None:
        self.nodes = 0

    def count(self, path: str, n: int = 1) -> None:
        self.nodes += n
        if self.nodes > MAX_NODES:
            raise SearchJsonError(path, f"more than {MAX_NODES} predicates in one search")

    def where(self, obj: Any, path: str, depth: int) -> ast.Expr | None:
        if depth > MAX_DEPTH:
            raise SearchJsonError(path, f"nested deeper than {MAX_DEPTH} levels")
        if not isinstance(obj, dict):
            raise SearchJsonError(path, f"expected an object, not {_kind(obj)}")
        parts: list[ast.Expr] = []
        for key, val in obj.items():
            sub = f"{path}.{key}" if key.isidentifier() else f"{path}[{key!r}]"
            if key in ("or", "and"):
                if not isinstance(val, list) or not val:
                    raise SearchJsonError(sub, f"'{key}' takes a non-empty array of objects")
                items = [self.where(x, f"{sub}[{i}]", depth + 1) for i, x in enumerate(val)]
                got = [x for x in items if x is not None]
                if key == "and":
                    e = None
                    for x in got:  # (a AND b) AND c is the chain a AND b AND c
                        parts.extend(_operands(x, "AND"))
                elif len(got) < len(items):
                    e = None  # an unconstrained alternative: the OR always holds
                else:
                    flat = [y for x in got for y in _operands(x, "OR")]
                    e = flat[0]
                    for x in flat[1:]:
                        e = ast.Binary("OR", e, x)
                if e is not None:
                    parts.append(e)
            elif key == "not":
                e = self.where(val, sub, depth + 1)
                parts.append(ast.Unary("NOT", e if e is not None else ast.Literal(True)))
            else:
                parts.extend(self.attribute(key, val, sub))
        return _and(parts)

    def attribute(self, key: str, val: Any, path: str) -> list[ast.Expr]:
        parts = tuple(key.split("."))
        if not key or not all(parts):
            raise SearchJsonError(path, "attribute names must be non-empty (a.b.c)")
        name = ast.Name(parts)
        if val is None:
            return []
        if isinstance(val, list):
            raise SearchJsonError(path, 'a bare array is ambiguous: use {"in": [...]}')
        if not isinstance(val, dict):
            self.count(path)
            return [ast.Binary("=", name, _lit(val, path))]
        if not val:
            raise SearchJsonError(path, "empty operator object")
        out: list[ast.Expr] = []
        for op, arg in val.items():
            sub = f"{path}.{op}" if op.isidentifier() else f"{path}[{op!r}]"
            self.count(sub)
            out.append(self.operator(name, op, arg, sub))
        return out

    def operator(self, name: ast.Name, op: str, arg: Any, path: str) -> ast.Expr:
        if op in _CMP:
            if arg is None:
                raise SearchJsonError(path, f"'{op}' needs a value (use 'exists' for nulls)")
            return ast.Binary(_CMP[op], name, _lit(arg, path))
        if op in ("in", "nin", "all", "any"):
            if not isinstance(arg, list) or not arg:
                raise SearchJsonError(path, f"'{op}' takes a non-empty array")
            if len(arg) > MAX_ITEMS:
                raise SearchJsonError(path, f"more than {MAX_ITEMS} values")
            self.count(path, len(arg))
            if op in ("all", "any"):
                for i, x in enumerate(arg):
                    if type(x) is not str:
                        raise SearchJsonError(f"{path}[{i}]", f"expected a string, not {_kind(x)}")
            items = tuple(_lit(x, f"{path}[{i}]") for i, x in enumerate(arg))
            if op in ("all", "any"):
                return ast.Contains(name, op.upper(), items)
            return ast.InList(name, items, negated=op == "nin")
        if op == "contains":
            return ast.Contains(name, "ONE", (_lit(arg, path),))
        if op == "exists":
            if type(arg) is not bool:
                raise SearchJsonError(path, "'exists' takes true or false")
            return ast.IsNull(name, negated=arg)
        if op == "prefix":
            if type(arg) is not str:
                raise SearchJsonError(path, f"'prefix' takes a string, not {_kind(arg)}")
            if "%" in arg or "_" in arg:
                raise SearchJsonError(path, "'prefix' cannot hold '%' or '_' (LIKE wildcards)")
            return ast.Like(name, arg + "%")
        raise SearchJsonError(path, f"unknown operator '{op}' (one of {', '.join(_OPS)})")


def _actions(val: Any, path: str) -> tuple[ast.Action, ...]:
    if not isinstance(val, list):
        raise SearchJsonError(path, "'then' takes an array of actions")
    out: list[ast.Action] = []
    for i, a in enumerate(val):
        sub = f"{path}[{i}]"
        if isinstance(a, dict) and isinstance(a.get("webhook"), str):
            secret = a.get("secret")
            if secret is not None and not isinstance(secret, str):
                raise SearchJsonError(f"{sub}.secret", "expected a string")
            if set(a) - {"webhook", "secret"}:
                raise SearchJsonError(sub, f"unknown keys {sorted(set(a) - {'webhook', 'secret'})}")
            out.append(ast.Webhook(a["webhook"], secret))
        elif isinstance(a, dict) and set(a) == {"emit_into"} and isinstance(a["emit_into"], str):
            out.append(ast.EmitInto(a["emit_into"]))
        else:
            raise SearchJsonError(
                sub, 'expected {"webhook": url[, "secret": name]} or {"emit_into": stream}'
            )
    return tuple(out)


def search_from_json(doc: Any) -> ast.SearchStmt:
    """Compile one JSON search (already decoded) into the SEARCH statement it denotes."""
    if not isinstance(doc, dict):
        raise SearchJsonError("$", f"a search is a JSON object, not {_kind(doc)}")
    extra = set(doc) - set(_TOP)
    if extra:
        raise SearchJsonError("$", f"unknown keys {sorted(extra)} (allowed: {', '.join(_TOP)})")
    for k in ("name", "from"):
        v = doc.get(k)
        if not isinstance(v, str) or not _NAME_RE.match(v):
            raise SearchJsonError(f"$.{k}", "required: an identifier ([A-Za-z_][A-Za-z0-9_]*)")
    where = doc.get("where")
    cond = None if where is None else _Compiler().where(where, "$.where", 0)
    emit: tuple[ast.EmitItem, ...] = ()
    if "emit" in doc:
        ev = doc["emit"]
        if not isinstance(ev, list) or not all(isinstance(x, str) and x for x in ev):
            raise SearchJsonError("$.emit", "expected an array of attribute paths")
        emit = tuple(ast.EmitItem(ast.Name(tuple(x.split(".")))) for x in ev)
    actions = _actions(doc["then"], "$.then") if "then" in doc else ()
    return ast.SearchStmt(doc["name"], doc["from"], cond, emit, actions)


def read_searches(path: str) -> Iterator[tuple[int, ast.SearchStmt | None, str]]:
    """Yield (line number, statement or None, error) for a JSON-lines file of searches."""
    import orjson

    with open(path, "rb") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                doc = orjson.loads(line)
            except orjson.JSONDecodeError as e:
                yield n, None, f"invalid JSON: {e}"
                continue
            try:
                yield n, search_from_json(doc), ""
            except SearchJsonError as e:
                yield n, None, str(e)

"""A hand-written parser for SEARCH statements, the hot path of bulk registration.

Why: millions of saved searches are registered, and the pyparsing grammar costs about 1.5 ms
per search statement. This module tokenizes with one regex and parses by recursive descent,
building exactly the AST (spans included) the grammar builds. It is deliberately partial:
on anything it does not expect it returns None and the caller falls back to the grammar,
which is the reference and the only source of error messages. Tests check that both paths
give identical trees on generated input.
"""

from __future__ import annotations

import re

from cep.lang import ast
from cep.lang.grammar import (
    COMMENT_RE,
    NAME_RE,
    NUMBER_RE,
    RESERVED_RE,
    STRING_RE,
    name_parts,
    number_value,
    unquote_string,
)
from cep.lang.scan import span_at

__all__ = ["parse_search"]

_TOKEN = re.compile(
    rf"(?P<ws>[ \t\r\n]+|{COMMENT_RE})"
    rf"|(?P<str>{STRING_RE})"
    rf"|(?P<num>{NUMBER_RE})"
    rf"|(?P<kw>{RESERVED_RE})"
    rf"|(?P<name>{NAME_RE})"
    r"|(?P<op><=|>=|<>|!=|[-+*/%(),=<>])",
    re.S,
)
_CMP = frozenset(("=", "!=", "<>", "<", "<=", ">", ">="))
_NOT_TAILS = frozenset(("BETWEEN", "IN", "LIKE"))


class _Fallback(Exception):
    """The statement is not in the subset this parser handles."""


def _tokenize(text: str) -> list[tuple[str, str, int]] | None:
    tokens: list[tuple[str, str, int]] = []
    pos, end = 0, len(text)
    match = _TOKEN.match
    while pos < end:
        m = match(text, pos)
        if m is None:
            return None
        kind = m.lastgroup
        if kind != "ws":
            value = m.group()
            tokens.append((kind, value.upper() if kind == "kw" else value, pos))  # type: ignore[arg-type]
        pos = m.end()
    tokens.append(("end", "", end))
    return tokens


class _Parser:
    """Recursive descent over the token list, mirroring grammar.py's expression rules."""

    __slots__ = ("base", "i", "starts", "toks")

    def __init__(self, toks: list[tuple[str, str, int]], base: int, starts: list[int]) -> None:
        self.toks = toks
        self.i = 0
        self.base = base
        self.starts = starts

    def span(self, loc: int) -> ast.Span:
        return span_at(self.starts, self.base + loc)

    def peek(self) -> tuple[str, str, int]:
        return self.toks[self.i]

    def take(self, kind: str, value: str | None = None) -> tuple[str, str, int]:
        tok = self.toks[self.i]
        if tok[0] != kind or (value is not None and tok[1] != value):
            raise _Fallback
        self.i += 1
        return tok

    def at(self, kind: str, value: str) -> bool:
        tok = self.toks[self.i]
        return tok[0] == kind and tok[1] == value

    def at_word(self, word: str) -> bool:
        """A non-reserved keyword (ALL, WEBHOOK...): a plain one-part name token."""
        tok = self.toks[self.i]
        return tok[0] == "name" and tok[1].upper() == word

    def ident(self) -> str:
        _, raw, _ = self.take("name")
        parts = name_parts(raw)
        if len(parts) != 1:
            raise _Fallback
        return parts[0]

    # ------------------------------------------------------------ statements

    def search(self) -> ast.SearchStmt:
        start = self.take("kw", "SEARCH")[2]
        name = self.ident()
        self.take("kw", "FROM")
        stream = self.ident()
        where: ast.Expr | None = None
        emit: tuple[ast.EmitItem, ...] | None = None
        actions: tuple[ast.Action, ...] | None = None
        while self.peek()[0] != "end":
            if self.at("kw", "WHERE") and where is None:
                self.i += 1
                where = self.expr()
            elif self.at("kw", "EMIT") and emit is None:
                self.i += 1
                emit = self.listed(self.emit_item)
            elif self.at("kw", "THEN") and actions is None:
                self.i += 1
                actions = self.listed(self.action)
            else:
                raise _Fallback
        return ast.SearchStmt(name, stream, where, emit or (), actions or (), self.span(start))

    def listed(self, item):  # type: ignore[no-untyped-def]
        items = [item()]
        while self.at("op", ","):
            self.i += 1
            items.append(item())
        return tuple(items)

    def emit_item(self) -> ast.EmitItem:
        start = self.peek()[2]
        value = self.expr()
        alias = None
        if self.at("kw", "AS"):
            self.i += 1
            alias = self.ident()
        return ast.EmitItem(value, alias, self.span(start))

    def action(self) -> ast.Action:
        start = self.peek()[2]
        if self.at("kw", "EMIT"):
            self.i += 1
            if not self.at_word("INTO"):
                raise _Fallback
            self.i += 1
            return ast.EmitInto(self.ident(), self.span(start))
        if not self.at_word("WEBHOOK"):
            raise _Fallback
        self.i += 1
        url = unquote_string(self.take("str")[1])
        secret = None
        if self.at_word("SECRET"):
            self.i += 1
            secret = unquote_string(self.take("str")[1])
        return ast.Webhook(url, secret, self.span(start))

    # ------------------------------------------------------------ expressions

    def expr(self) -> ast.Expr:
        start = self.peek()[2]
        node = self.and_expr()
        while self.at("kw", "OR"):
            self.i += 1
            node = ast.Binary("OR", node, self.and_expr(), self.span(start))
        return node

    def and_expr(self) -> ast.Expr:
        start = self.peek()[2]
        node = self.not_expr()
        while self.at("kw", "AND"):
            self.i += 1
            node = ast.Binary("AND", node, self.not_expr(), self.span(start))
        return node

    def not_expr(self) -> ast.Expr:
        nots: list[int] = []
        while self.at("kw", "NOT"):
            nots.append(self.peek()[2])
            self.i += 1
        node = self.predicate()
        for loc in reversed(nots):
            node = ast.Unary("NOT", node, self.span(loc))
        return node

    def predicate(self) -> ast.Expr:
        start = self.peek()[2]
        operand = self.add()
        kind, value, _ = self.peek()
        if kind == "op" and value in _CMP:
            self.i += 1
            node: ast.Expr = ast.Binary(
                "!=" if value == "<>" else value, operand, self.add(), self.span(start)
            )
        elif kind == "kw" and value == "NOT":
            self.i += 1
            if self.peek()[1] not in _NOT_TAILS or self.peek()[0] != "kw":
                raise _Fallback
            node = self.tail(operand, start, negated=True)
        elif kind == "kw" and value in ("BETWEEN", "IN", "LIKE", "IS", "CONTAINS", "MATCHES"):
            node = self.tail(operand, start, negated=False)
        else:
            return operand
        if self.peek()[0] == "op" and self.peek()[1] in _CMP:
            raise _Fallback  # chained comparison: the grammar words the error
        return node

    def tail(self, operand: ast.Expr, start: int, negated: bool) -> ast.Expr:
        word = self.take("kw")[1]
        span = self.span(start)
        if word == "BETWEEN":
            low = self.add()
            self.take("kw", "AND")
            return ast.Between(operand, low, self.add(), negated, span)
        if word == "IN":
            return ast.InList(operand, self.paren_list(), negated, span)
        if word == "LIKE":
            return ast.Like(operand, unquote_string(self.take("str")[1]), negated, span)
        if word == "MATCHES":
            return ast.Matches(operand, unquote_string(self.take("str")[1]), span)
        if word == "IS":
            neg = self.at("kw", "NOT")
            if neg:
                self.i += 1
            self.take("kw", "NULL")
            return ast.IsNull(operand, neg, span)
        # CONTAINS
        for mode in ("ALL", "ANY"):
            if self.at_word(mode) and self.toks[self.i + 1][:2] == ("op", "("):
                self.i += 1
                return ast.Contains(operand, mode, self.paren_list(), span)
        return ast.Contains(operand, "ONE", (self.add(),), span)

    def paren_list(self) -> tuple[ast.Expr, ...]:
        self.take("op", "(")
        items = self.listed(self.expr)
        self.take("op", ")")
        return items

    def add(self) -> ast.Expr:
        start = self.peek()[2]
        node = self.mul()
        while True:
            kind, value, _ = self.peek()
            if kind != "op" or value not in ("+", "-"):
                return node
            self.i += 1
            node = ast.Binary(value, node, self.mul(), self.span(start))

    def mul(self) -> ast.Expr:
        start = self.peek()[2]
        node = self.unary()
        while True:
            kind, value, _ = self.peek()
            if kind != "op" or value not in ("*", "/", "%"):
                return node
            self.i += 1
            node = ast.Binary(value, node, self.unary(), self.span(start))

    def unary(self) -> ast.Expr:
        minus: list[int] = []
        while self.at("op", "-"):
            minus.append(self.peek()[2])
            self.i += 1
        node = self.primary()
        for loc in reversed(minus):
            node = ast.Unary("-", node, self.span(loc))
        return node

    def primary(self) -> ast.Expr:
        kind, value, loc = self.peek()
        self.i += 1
        if kind == "str":
            return ast.Literal(unquote_string(value), self.span(loc))
        if kind == "num":
            try:
                return ast.Literal(number_value(value), self.span(loc))
            except ValueError:
                raise _Fallback from None
        if kind == "kw":
            if value in ("TRUE", "FALSE", "NULL"):
                const = {"TRUE": True, "FALSE": False, "NULL": None}[value]
                return ast.Literal(const, self.span(loc))
            raise _Fallback
        if kind == "name":
            if not self.at("op", "("):
                return ast.Name(name_parts(value), self.span(loc))
            if '"' in value or "." in value:
                raise _Fallback
            self.i += 1
            args: tuple[ast.Expr, ...] = ()
            if self.at("op", "*"):
                args = (ast.Star(self.span(self.peek()[2])),)
                self.i += 1
            elif not self.at("op", ")"):
                args = self.listed(self.expr)
            self.take("op", ")")
            return ast.Call(value.upper(), args, self.span(loc))
        if kind == "op" and value == "(":
            node = self.expr()
            self.take("op", ")")
            return node
        raise _Fallback


def parse_search(text: str, base: int, starts: list[int]) -> ast.SearchStmt | None:
    """Parse one SEARCH statement (text at file offset `base`), or None to use the grammar."""
    toks = _tokenize(text)
    if toks is None:
        return None
    parser = _Parser(toks, base, starts)
    try:
        stmt = parser.search()
    except (_Fallback, IndexError, RecursionError):
        return None
    return stmt

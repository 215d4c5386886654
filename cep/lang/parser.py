"""Parse rule text into AST statements; every failure becomes a located RuleError.

Why a layer around the grammar: it cuts a file into statements at each `;` (outside strings
and comments) so that one broken statement does not hide the others (collect-all mode); it
bounds hostile input (file and statement size, bracket nesting, tree depth) before and
after pyparsing runs; it rewords pyparsing's exceptions, which never escape, into short
messages with file-relative line/column and a caret snippet; and it sends SEARCH
statements through the hand-written fast path, falling back to the grammar.
"""

from __future__ import annotations

import re
import sys
import threading
from collections.abc import Iterator

import pyparsing as pp

from cep.errors import (
    RuleError,
    RuleLimitError,
    RuleSyntaxError,
)
from cep.lang import ast
from cep.lang.fastpath import parse_search
from cep.lang.grammar import (
    EXPRESSION,
    IDENT_RE,
    PATTERN,
    POS,
    STATEMENTS,
    STRING_RE,
    GrammarError,
)
from cep.lang.scan import (
    Segment,
    blank_comments,
    innermost_open,
    line_starts,
    skip_blank,
    snippet,
    span_at,
    split_statements,
)

__all__ = [
    "MAX_DEPTH",
    "MAX_ERRORS",
    "MAX_FILE_BYTES",
    "MAX_NESTING",
    "MAX_STATEMENT_BYTES",
    "parse",
    "parse_collect",
    "parse_expression",
    "parse_pattern",
    "parse_statement",
]

MAX_FILE_BYTES = 8 * 1024 * 1024
MAX_STATEMENT_BYTES = 64 * 1024
MAX_NESTING = 64  # brackets, checked before the grammar runs
MAX_DEPTH = 200  # syntax tree depth (long AND chains, NOT NOT ..., - - ...)
MAX_ERRORS = 1000  # collect-all stops after this many errors in one file

# pyparsing needs ~40 frames per nesting level: 64 levels fit in this limit.
_RECURSION = 8000
_LOCK = threading.RLock()  # the grammar's POS and pyparsing's caches are process-wide
_WORD = re.compile(IDENT_RE)
_TOKEN = re.compile(rf"{IDENT_RE}|{STRING_RE}|\d[\w.]*|->>|->|<=|>=|<>|!=|.", re.S)
_KINDS = ", ".join(STATEMENTS)


class _File:
    """The text being parsed, with what is needed to place errors in it."""

    def __init__(self, text: str, name: str) -> None:
        self.text = text
        self.name = name
        self.starts = line_starts(text)

    def error(self, cls: type[RuleError], offset: int, message: str) -> RuleError:
        span = span_at(self.starts, offset)
        text = snippet(self.text, self.starts, span)
        return cls(span.line, span.column, message, text, self.name)


def _too_big(text: str, start: int, end: int, limit: int) -> bool:
    n = end - start
    return n > limit or (n * 4 > limit and len(text[start:end].encode("utf-8")) > limit)


def _describe(text: str, loc: int, end: int) -> str:
    """How the token at `loc` reads in a message: 'WHEN', ')', end of statement."""
    if loc >= end:
        return "end of statement"
    m = _TOKEN.match(text, loc, end)
    token = m.group() if m else text[loc]
    if token.startswith("'"):
        return "a string"
    return f"'{token[:40]}'"


def _syntax_error(f: _File, seg: Segment, exc: pp.ParseBaseException) -> RuleError:
    """Reword a pyparsing exception into a RuleSyntaxError placed in the file."""
    text, end = f.text, seg.end
    loc = skip_blank(text, seg.start + exc.loc, end)
    if isinstance(exc, GrammarError):
        return f.error(RuleSyntaxError, seg.start + exc.loc, exc.msg)
    msg = exc.msg
    if msg.startswith("Expected "):
        what = msg[len("Expected ") :]
        if what in ("end of statement", "end of text"):
            msg = f"unexpected {_describe(text, loc, end)}"
        elif what == "')'":
            opened = innermost_open(text[seg.start : end], loc - seg.start)
            msg = "expected ')'"
            if opened >= 0:
                where = span_at(f.starts, seg.start + opened)
                msg += f" to close '(' opened at {where.line}:{where.column}"
        else:
            msg = f"expected {what}"
    if loc >= end:  # point just past the last token rather than at the next statement
        loc = seg.start + len(text[seg.start : end].rstrip())
    return f.error(RuleSyntaxError, loc, msg)


def _children(node: object) -> Iterator[object]:
    for name in type(node).__dataclass_fields__:  # type: ignore[attr-defined]
        value = getattr(node, name)
        if isinstance(value, tuple):
            for item in value:
                if hasattr(item, "__dataclass_fields__"):
                    yield item
        elif hasattr(value, "__dataclass_fields__") and name != "span":
            yield value


def _too_deep(root: object) -> ast.Span | None:
    """The span of the first node deeper than MAX_DEPTH, or None (iterative walk)."""
    stack = [(root, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            return node.span  # type: ignore[attr-defined, no-any-return]
        stack.extend((child, depth + 1) for child in _children(node))
    return None


def _run_grammar(f: _File, seg: Segment, element: pp.ParserElement) -> object:
    """Run one grammar element over a segment; RuleError on any failure."""
    with _LOCK:
        POS.base, POS.starts = seg.start, f.starts
        limit = sys.getrecursionlimit()
        if limit < _RECURSION:
            sys.setrecursionlimit(_RECURSION)
        try:
            node = element.parse_string(blank_comments(f.text[seg.start : seg.end]))[0]
        except pp.ParseBaseException as exc:
            raise _syntax_error(f, seg, exc) from None
        except RecursionError:
            raise f.error(RuleLimitError, seg.start, "statement is nested too deeply") from None
        finally:
            if limit < _RECURSION:
                sys.setrecursionlimit(limit)
    _check_depth(f, seg, node)
    return node


def _check_depth(f: _File, seg: Segment, node: object) -> None:
    """Reject trees deeper than MAX_DEPTH (each level takes at least one character)."""
    if seg.end - seg.start > MAX_DEPTH:
        deep = _too_deep(node)
        if deep is not None:
            message = f"expression nested more than {MAX_DEPTH} levels deep"
            raise f.error(RuleLimitError, deep.offset, message)


def _parse_segment(f: _File, seg: Segment, fast_path: bool) -> ast.Statement | None:
    """Parse one statement's segment; None if it holds only blanks and comments."""
    text = f.text
    if seg.error_at >= 0:
        raise f.error(RuleSyntaxError, seg.error_at, seg.error)
    first = skip_blank(text, seg.start, seg.end)
    if first >= seg.end:
        return None
    if _too_big(text, seg.start, seg.end, MAX_STATEMENT_BYTES):
        raise f.error(RuleLimitError, first, "statement is longer than 64 KiB")
    m = _WORD.match(text, first, seg.end)
    keyword = m.group().upper() if m else ""
    if keyword not in STATEMENTS:
        found = f"'{m.group()[:40]}'" if m else _describe(text, first, seg.end)
        raise f.error(RuleSyntaxError, first, f"unknown statement {found} (expected {_KINDS})")
    if fast_path and keyword == "SEARCH":
        stmt = parse_search(text[seg.start : seg.end], seg.start, f.starts)
        if stmt is not None:
            _check_depth(f, seg, stmt)
            return stmt
    return _run_grammar(f, seg, STATEMENTS[keyword])  # type: ignore[return-value]


def _run(
    text: str, source_name: str, first_only: bool, fast_path: bool
) -> tuple[ast.Script, list[RuleError]]:
    if _too_big(text, 0, len(text), MAX_FILE_BYTES):
        error = RuleLimitError(1, 1, "file is larger than 8 MiB", "", source_name)
        return ast.Script((), source_name), [error]
    f = _File(text, source_name)
    statements: list[ast.Statement] = []
    errors: list[RuleError] = []
    for seg in split_statements(text, MAX_NESTING):
        try:
            stmt = _parse_segment(f, seg, fast_path)
        except RuleError as exc:
            errors.append(exc)
            if first_only:
                break
            if len(errors) >= MAX_ERRORS:
                message = f"too many errors; stopped after {MAX_ERRORS}"
                errors.append(f.error(RuleLimitError, seg.end, message))
                break
        else:
            if stmt is not None:
                statements.append(stmt)
    return ast.Script(tuple(statements), source_name), errors


def parse(text: str, source_name: str = "", *, fast_path: bool = True) -> ast.Script:
    """Parse a file of statements; raise the first RuleError found.

    `fast_path=False` sends every statement through the grammar (tests compare the two).
    """
    script, errors = _run(text, source_name, True, fast_path)
    if errors:
        raise errors[0]
    return script


def parse_collect(
    text: str, source_name: str = "", *, fast_path: bool = True
) -> tuple[ast.Script, list[RuleError]]:
    """Parse every statement of a file; return the good ones and all errors, in order."""
    return _run(text, source_name, False, fast_path)


def parse_statement(text: str, source_name: str = "") -> ast.Statement:
    """Parse text holding exactly one statement (`;` optional)."""
    script = parse(text, source_name)
    if len(script.statements) != 1:
        f = _File(text, source_name)
        at = script.statements[1].span.offset if script.statements else skip_blank(text, 0)
        count = len(script.statements)
        raise f.error(RuleSyntaxError, at, f"expected exactly one statement, found {count}")
    return script.statements[0]


def _parse_part(text: str, source_name: str, element: pp.ParserElement) -> object:
    if _too_big(text, 0, len(text), MAX_STATEMENT_BYTES):
        raise RuleLimitError(1, 1, "text is longer than 64 KiB", "", source_name)
    f = _File(text, source_name)
    segments = list(split_statements(text, MAX_NESTING))
    seg = segments[0]
    if seg.error_at >= 0:
        raise f.error(RuleSyntaxError, seg.error_at, seg.error)
    if len(segments) > 1:
        raise f.error(RuleSyntaxError, seg.end, "unexpected ';'")
    return _run_grammar(f, seg, element)


def parse_expression(text: str, source_name: str = "") -> ast.Expr:
    """Parse a lone expression (`amount > 5 AND country = 'KR'`)."""
    return _parse_part(text, source_name, EXPRESSION)  # type: ignore[return-value]


def parse_pattern(text: str, source_name: str = "") -> ast.Pattern:
    """Parse a lone pattern, without the PATTERN ( ) around it (`a b+ -> !c`)."""
    return _parse_part(text, source_name, PATTERN)  # type: ignore[return-value]

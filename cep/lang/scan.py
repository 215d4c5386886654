"""Lexical pre-pass over rule text: statement splitting, nesting depth, positions.

Why a separate pass: the grammar recurses once per nesting level and sees one statement at a
time, so the file is first cut into statements by a flat regex scan that is linear in the
input and never recurses. The same scan rejects hostile nesting and unterminated strings or
comments before any grammar runs, and it maps character offsets to 1-based line/column
exactly as `caret_snippet` counts lines (`str.splitlines` line breaks).
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Iterator
from dataclasses import dataclass

from cep.errors import caret_snippet
from cep.lang.ast import Span

__all__ = [
    "SKIP_RE",
    "Segment",
    "blank_comments",
    "innermost_open",
    "line_starts",
    "skip_blank",
    "snippet",
    "span_at",
    "split_statements",
]

# The line breaks of str.splitlines(), so line numbers agree with caret_snippet.
_LINE_BREAK = re.compile(r"\r\n|[\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]")

# Whitespace and comments between tokens (possessive: never backtracks on long input).
SKIP_RE = re.compile(r"(?>[ \t\r\n]+|--[^\n\r]*|/\*.*?\*/)*+", re.S)

_TOKENS = (
    r"(?P<str>'[^']*(?:''[^']*)*')"
    r"|(?P<ustr>')"
    r'|(?P<qid>"[^"\n]*(?:""[^"\n]*)*")'
    r'|(?P<uqid>")'
    r"|(?P<com>--[^\n\r]*|/\*.*?\*/)"
    r"|(?P<ucom>/\*)"
    r"|(?P<semi>;)"
)
_LEX = re.compile(_TOKENS + r"|(?P<open>[(\[{])|(?P<close>[)\]}])", re.S)
_LEX_FLAT = re.compile(_TOKENS, re.S)  # once a statement has an error: brackets no longer count
_UNTERMINATED = {
    "ustr": "unterminated string: missing closing '",
    "ucom": "unterminated comment: missing */",
    "uqid": 'unterminated quoted name: missing closing "',
}

_COMMENTS = re.compile(
    r"'[^']*(?:''[^']*)*'|\"[^\"\n]*(?:\"\"[^\"\n]*)*\"|(--[^\n\r]*|/\*.*?\*/)", re.S
)
_BREAKS = "\r\n\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"
_CLOSER = {"(": ")", "[": "]", "{": "}"}


@dataclass(slots=True)
class Segment:
    """One statement's slice of the file, and the first lexical error found in it."""

    start: int
    end: int
    error_at: int = -1
    error: str = ""


def line_starts(text: str) -> list[int]:
    """Return the offset at which each line of `text` starts."""
    return [0, *(m.end() for m in _LINE_BREAK.finditer(text))]


def span_at(starts: list[int], offset: int) -> Span:
    """Return the Span (1-based line and column) of a character offset."""
    line = bisect_right(starts, offset)
    return Span(line, offset - starts[line - 1] + 1, offset)


def snippet(text: str, starts: list[int], span: Span) -> str:
    """The caret snippet of `span`'s line, cut to a window so that huge lines stay cheap."""
    if not 1 <= span.line <= len(starts):
        return ""
    begin = starts[span.line - 1]
    stop = starts[span.line] if span.line < len(starts) else len(text)
    lo, hi = max(begin, span.offset - 150), min(stop, span.offset + 150)
    return caret_snippet(text[lo:hi].rstrip(_BREAKS), 1, span.offset - lo + 1)


def blank_comments(text: str) -> str:
    """Return `text` with each comment replaced by spaces (same length, so same offsets)."""
    if "--" not in text and "/*" not in text:
        return text
    return _COMMENTS.sub(lambda m: " " * len(m.group()) if m.group(1) else m.group(), text)


def skip_blank(text: str, pos: int, end: int | None = None) -> int:
    """Return the offset of the first character at or after `pos` that is not blank/comment."""
    m = SKIP_RE.match(text, pos, len(text) if end is None else end)
    return m.end() if m else pos


def split_statements(text: str, max_nesting: int) -> Iterator[Segment]:
    """Cut `text` at each `;` outside strings and comments; flag lexical errors per statement.

    Lazy, so that a caller that stops early (too many errors) does not scan the rest.

    A statement whose brackets nest deeper than `max_nesting`, or with an unterminated
    string, quoted name or comment, gets `error`/`error_at` (the offending offset). An
    unterminated string or comment runs to the end of the file, as it would in SQL.
    """
    seg = Segment(0, len(text))
    depth = pos = 0
    lex = _LEX
    while (m := lex.search(text, pos)) is not None:
        kind, pos = m.lastgroup, m.end()
        if kind == "open":
            depth += 1
            if depth > max_nesting:
                seg.error_at = m.start()
                seg.error = f"brackets nest deeper than {max_nesting} levels"
                lex = _LEX_FLAT
        elif kind == "close":
            depth = max(0, depth - 1)
        elif kind == "semi":
            seg.end = m.start()
            yield seg
            seg, depth, lex = Segment(m.end(), len(text)), 0, _LEX
        elif kind in _UNTERMINATED:
            if seg.error_at < 0:
                seg.error_at, seg.error = m.start(), _UNTERMINATED[kind]
                lex = _LEX_FLAT
            if kind != "uqid":  # the string or comment swallows the rest of the file
                break
            nl = text.find("\n", pos)  # a quoted name ends at the end of its line
            pos = len(text) if nl < 0 else nl
    seg.end = len(text)
    yield seg


def innermost_open(text: str, end: int, bracket: str = "(") -> int:
    """Return the offset of the innermost `bracket` still open at `end`, or -1."""
    stack: list[int] = []
    for m in _LEX.finditer(text, 0, end):
        kind = m.lastgroup
        if kind == "open" and m.group() == bracket:
            stack.append(m.start())
        elif kind == "close" and m.group() == _CLOSER[bracket] and stack:
            stack.pop()
    return stack[-1] if stack else -1

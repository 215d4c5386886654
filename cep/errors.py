"""Typed errors of the engine; one root so callers can catch all of them.

    CepError
     ├── RuleError                 (has line, column, message, snippet)
     │    ├── RuleSyntaxError      the text does not parse
     │    ├── RuleTypeError        an expression mixes types or names an unknown attribute
     │    ├── RuleNameError        unknown variable, stream or duplicate statement
     │    └── RuleLimitError       the statement exceeds a complexity limit
     ├── RuleErrors                several RuleErrors collected in one run (`cep check`)
     └── EventError                an event cannot be read (has index, message)

Pyparsing exceptions never leave `cep.lang`: the parser converts them into RuleSyntaxError.
"""

from __future__ import annotations

__all__ = [
    "CepError",
    "EventError",
    "RuleError",
    "RuleErrors",
    "RuleLimitError",
    "RuleNameError",
    "RuleSyntaxError",
    "RuleTypeError",
    "caret_snippet",
]


def caret_snippet(source: str, line: int, column: int) -> str:
    """Return the source line at `line` with a caret under `column` (both 1-based)."""
    lines = source.splitlines() or [""]
    if line < 1 or line > len(lines):
        return ""
    text = lines[line - 1].expandtabs(1)
    if len(text) > 200:  # keep one-line messages readable on huge lines
        start = max(0, column - 100)
        text = text[start : start + 200]
        column -= start
    return f"{text}\n{' ' * max(0, column - 1)}^"


class CepError(Exception):
    """Root of every error the engine raises on purpose."""


class RuleError(CepError):
    """An error in rule text, located by 1-based line and column."""

    kind = "error"

    def __init__(
        self, line: int, column: int, message: str, snippet: str = "", source_name: str = ""
    ) -> None:
        self.line = line
        self.column = column
        self.message = message
        self.snippet = snippet
        self.source_name = source_name
        super().__init__(self.__str__())

    def __str__(self) -> str:
        where = f"{self.source_name}:" if self.source_name else ""
        head = f"{where}{self.line}:{self.column}: {self.kind}: {self.message}"
        return f"{head}\n{self.snippet}" if self.snippet else head

    def to_dict(self) -> dict[str, object]:
        """Return the error as a JSON-ready dict (the API's error shape)."""
        return {
            "type": type(self).__name__,
            "line": self.line,
            "column": self.column,
            "message": self.message,
            "snippet": self.snippet,
            "source": self.source_name or None,
        }


class RuleSyntaxError(RuleError):
    """The rule text does not follow the grammar."""

    kind = "syntax error"


class RuleTypeError(RuleError):
    """An expression is ill-typed or names an attribute the schema does not declare."""

    kind = "type error"


class RuleNameError(RuleError):
    """A name is unknown, duplicated or used in the wrong place."""

    kind = "name error"


class RuleLimitError(RuleError):
    """A statement is larger than the configured limits allow."""

    kind = "limit exceeded"


class RuleErrors(CepError):
    """Every error found in one run of the checker (collect-all mode)."""

    def __init__(self, errors: list[RuleError]) -> None:
        self.errors = sorted(errors, key=lambda e: (e.source_name, e.line, e.column))
        super().__init__("\n".join(str(e) for e in self.errors))


class EventError(CepError):
    """An event in an input batch could not be read; `index` is its 0-based position."""

    def __init__(self, index: int, message: str) -> None:
        self.index = index
        self.message = message
        super().__init__(f"event {index}: {message}")

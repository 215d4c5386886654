"""Drive a Program over letter sequences without the parser (shared by the NFA tests)."""

from __future__ import annotations

from cep.lang import ast as A
from cep.nfa.compiler import compile_pattern
from cep.nfa.runtime import KeyState, Matcher, bind_list

LETTERS = "abc"


def letter_conditions(letters: str = LETTERS) -> dict:
    """One variable per letter: `x` matches events whose `l` attribute is 'x'."""
    return {
        ch: ((lambda ev, b, _c=ch: ev["l"] == _c), False, None, f"l = '{ch}'") for ch in letters
    }


def run_letters(
    pattern: A.Pattern,
    text: str,
    *,
    within: int | None = None,
    skip: int = 0,
    skip_var: int = -1,
    timeout_emit: bool = False,
    max_threads: int = 100_000,
):
    """Feed one event per letter (ts = position); return (start, end, bindings) per match."""
    prog = compile_pattern(pattern, list(LETTERS), letter_conditions())
    m = Matcher(prog, within, skip, skip_var, timeout_emit, max_threads)
    ks = KeyState()
    out: list = []
    for i, ch in enumerate(text):
        m.on_event(ks, (i, i, {"l": ch}, "s"), out)
    m.finish(ks, out)
    res = []
    for r in out:
        bl = bind_list(r.bind)
        res.append(
            (
                bl[0][1][0],
                bl[-1][1][0] + 1,
                tuple((LETTERS[v], rec[0]) for v, rec, _ in bl),
                r.timed_out,
            )
        )
    return res, m


def seq(*items: A.Pattern, joins: list[str] | None = None) -> A.Pattern:
    """Build a sequence (strict by default)."""
    return A.PSeq(tuple(items), tuple(joins or [""] * (len(items) - 1)))


V = A.PVar

"""Pattern AST → `Program`: Thompson construction, then epsilon closures folded away.

Step 1 lowers the pattern into a flat instruction list (CONSUME, SPLIT, JMP, WAIT, ABSENT,
MATCH), the way a regex compiler does: alternation and quantifiers become SPLITs whose
first target is the preferred one (left alternative, greedy "one more", reluctant "stop"),
bounded quantifiers are unrolled (`x{2,4}` = `x x (x (x)?)?`), and skip joins `->`/`->>`
become WAIT instructions in front of what they lead to.

Step 2 computes, for every place a thread can rest, the ordered closure of what it reaches
without consuming an event. Several WAITs reached by one closure are merged into one node
so that skip-till-next decides "take or skip" once for the whole thread (otherwise a greedy
skip loop `x->+ -> y` would wait forever for another `x` after a `y` completed the match).
A WAIT reached before any event is consumed is bypassed: skipping before a match's first
event is what starting later already does.
"""

from __future__ import annotations

from collections.abc import Callable

from cep.errors import RuleLimitError
from cep.lang import ast
from cep.nfa.program import ABSENT, CONSUME, MATCH, WAIT, Program, VarSpec

__all__ = ["DEFAULT_MAX_NODES", "compile_pattern", "pattern_variables"]

DEFAULT_MAX_NODES = 2000

# instruction opcodes (step 1 only)
_CONSUME, _SPLIT, _JMP, _WAIT, _ABSENT, _MATCH = range(6)


def pattern_variables(p: ast.Pattern) -> list[str]:
    """Return the pattern's variable names in order of first appearance (negated too)."""
    out: list[str] = []

    def walk(n: ast.Pattern) -> None:
        if isinstance(n, ast.PVar | ast.PNot):
            if n.name not in out:
                out.append(n.name)
        elif isinstance(n, ast.PSeq):
            for i in n.items:
                walk(i)
        elif isinstance(n, ast.PAlt):
            for o in n.options:
                walk(o)
        elif isinstance(n, ast.PQuant):
            walk(n.body)

    walk(p)
    return out


class _Emitter:
    """Step 1: the flat instruction list."""

    def __init__(self, var_ids: dict[str, int], max_nodes: int, span: ast.Span) -> None:
        self.code: list[list] = []
        self.var_ids = var_ids
        self.max_nodes = max_nodes
        self.span = span

    def add(self, *ins: object) -> int:
        if len(self.code) >= self.max_nodes:
            raise RuleLimitError(
                self.span.line,
                self.span.column,
                f"pattern expands to more than {self.max_nodes} NFA instructions",
            )
        self.code.append(list(ins))
        return len(self.code) - 1

    def emit(self, p: ast.Pattern) -> None:
        if isinstance(p, ast.PVar):
            pc = len(self.code)
            self.add(_CONSUME, self.var_ids[p.name], pc + 1)
        elif isinstance(p, ast.PSeq):
            self.emit_seq(p)
        elif isinstance(p, ast.PAlt):
            jumps = []
            for i, opt in enumerate(p.options):
                if i < len(p.options) - 1:
                    split = self.add(_SPLIT, None, None)
                    self.code[split][1] = len(self.code)
                    self.emit(opt)
                    jumps.append(self.add(_JMP, None))
                    self.code[split][2] = len(self.code)
                else:
                    self.emit(opt)
            for j in jumps:
                self.code[j][1] = len(self.code)
        elif isinstance(p, ast.PQuant):
            self.emit_quant(p)
        else:  # PNot outside a sequence: the checker rejects it; be defensive
            raise RuleLimitError(p.span.line, p.span.column, "'!' is only allowed after '->'")

    def emit_seq(self, p: ast.PSeq) -> None:
        items, joins = p.items, p.joins
        i = 0
        while i < len(items):
            self.emit(items[i])
            i += 1
            if i >= len(items) or not joins[i - 1]:
                continue
            neg: list[int] = []
            while i < len(items) and isinstance(items[i], ast.PNot):
                neg.append(self.var_ids[items[i].name])  # type: ignore[union-attr]
                i += 1
            if i >= len(items):  # `p -> !v` at the end: absence
                self.add(_ABSENT, tuple(neg))
                return
            pc = len(self.code)
            self.add(_WAIT, tuple(neg), pc + 1, joins[i - 1] == "->>")

    def emit_iteration(self, p: ast.PQuant, index: int) -> None:
        if p.skip and index > 0:
            pc = len(self.code)
            self.add(_WAIT, (), pc + 1, p.skip == "->>")
        self.emit(p.body)

    def emit_quant(self, p: ast.PQuant) -> None:
        for i in range(p.min):
            self.emit_iteration(p, i)
        if p.max is None:
            loop = self.add(_SPLIT, None, None)
            body = len(self.code)
            self.emit_iteration(p, max(p.min, 1) if p.min else 0)
            if p.min == 0 and p.skip:
                # x->* : the first iteration has no WAIT, later ones do
                inner = self.add(_SPLIT, None, None)
                body2 = len(self.code)
                self.emit_iteration(p, 1)
                self.add(_JMP, inner)
                exit_pc = len(self.code)
                self.code[inner][1:] = [body2, exit_pc] if p.greedy else [exit_pc, body2]
            else:
                self.add(_JMP, loop)
                exit_pc = len(self.code)
            self.code[loop][1:] = [body, exit_pc] if p.greedy else [exit_pc, body]
            return
        splits = []
        for i in range(p.min, p.max):
            split = self.add(_SPLIT, None, None)
            splits.append((split, len(self.code)))
            self.emit_iteration(p, i)
        end = len(self.code)
        for split, body in splits:
            self.code[split][1:] = [body, end] if p.greedy else [end, body]


def compile_pattern(
    pattern: ast.Pattern,
    var_order: list[str],
    conditions: dict[str, tuple[Callable | None, bool, str | None, str]],
    max_nodes: int = DEFAULT_MAX_NODES,
) -> Program:
    """Compile a checked pattern; `conditions[v]` = (fn, uses_bindings, stream, source)."""
    var_ids = {name: i for i, name in enumerate(var_order)}
    em = _Emitter(var_ids, max_nodes, pattern.span)
    em.emit(pattern)
    em.add(_MATCH)
    code = em.code
    specs = tuple(
        VarSpec(name, *conditions.get(name, (None, False, None, "true"))) for name in var_order
    )
    return _Folder(code, specs, max_nodes, pattern.span).build()


class _Folder:
    """Step 2: resting nodes and their ordered epsilon closures."""

    def __init__(
        self, code: list[list], specs: tuple[VarSpec, ...], max_nodes: int, span: ast.Span
    ):
        self.code = code
        self.specs = specs
        self.max_nodes = max_nodes
        self.span = span
        self.node_of: dict[tuple, int] = {}
        self.kinds: list[int] = []
        self.node_vars: list[int] = []
        self.succ: list[tuple[int, ...]] = []
        self.components: list[tuple] = []
        self.negs: list[tuple[int, ...]] = []
        self.any_match: list[bool] = []
        self.pending: list[tuple[int, tuple]] = []

    def closure(self, pc: int, at_start: bool) -> list[int]:
        """Ordered resting pcs reachable from pc without consuming (WAITs kept or bypassed)."""
        out: list[int] = []
        seen: set[int] = set()
        stack = [pc]
        while stack:
            pc = stack.pop()
            if pc in seen:
                continue
            seen.add(pc)
            ins = self.code[pc]
            op = ins[0]
            if op == _SPLIT:
                stack.append(ins[2])
                stack.append(ins[1])
            elif op == _JMP:
                stack.append(ins[1])
            elif op == _WAIT and at_start:
                stack.append(ins[2])
            else:
                out.append(pc)
        return out

    def node_for(self, key: tuple) -> int:
        n = self.node_of.get(key)
        if n is not None:
            return n
        if len(self.kinds) >= self.max_nodes:
            raise RuleLimitError(
                self.span.line,
                self.span.column,
                f"pattern needs more than {self.max_nodes} NFA states",
            )
        n = len(self.kinds)
        self.node_of[key] = n
        kind = {"C": CONSUME, "W": WAIT, "A": ABSENT, "M": MATCH}[key[0]]
        self.kinds.append(kind)
        self.node_vars.append(self.code[key[1]][1] if kind == CONSUME else -1)
        self.succ.append(())
        self.components.append(())
        self.negs.append(self.code[key[1]][1] if kind == ABSENT else ())
        self.any_match.append(False)
        self.pending.append((n, key))
        return n

    def nodes_for(self, pcs: list[int]) -> tuple[int, ...]:
        """Map closure pcs to node ids, merging every WAIT into the first one's place."""
        waits = tuple(pc for pc in pcs if self.code[pc][0] == _WAIT)
        out: list[int] = []
        placed_wait = False
        for pc in pcs:
            op = self.code[pc][0]
            if op == _WAIT:
                if not placed_wait:
                    out.append(self.node_for(("W", *waits)))
                    placed_wait = True
            elif op == _CONSUME:
                out.append(self.node_for(("C", pc)))
            elif op == _ABSENT:
                out.append(self.node_for(("A", pc)))
            else:
                out.append(self.node_for(("M",)))
        return tuple(dict.fromkeys(out))

    def build(self) -> Program:
        start = self.nodes_for(self.closure(0, at_start=True))
        while self.pending:
            n, key = self.pending.pop()
            if key[0] == "C":
                self.succ[n] = self.nodes_for(self.closure(self.code[key[1]][2], at_start=False))
            elif key[0] == "W":
                comps = []
                for wpc in key[1:]:
                    _, neg, nxt, _any = self.code[wpc]
                    # what follows a WAIT is consumed right away: nested WAITs are bypassed
                    entries = []
                    for pc in self.closure(nxt, at_start=True):
                        if self.code[pc][0] == _CONSUME:
                            entries.append(
                                (self.code[pc][1], self.nodes_for(self.closure(pc + 1, False)))
                            )
                    comps.append((tuple(neg), tuple(entries)))
                self.components[n] = tuple(comps)
                self.any_match[n] = any(self.code[wpc][3] for wpc in key[1:])
        return Program(
            vars=self.specs,
            kinds=tuple(self.kinds),
            node_vars=tuple(self.node_vars),
            succ=tuple(self.succ),
            components=tuple(self.components),
            negs=tuple(self.negs),
            any_match=tuple(self.any_match),
            start=start,
        )

"""Compile expression ASTs into Python closures: the engine's per-event hot path.

Why closures. A condition is evaluated for every event (and, in a RULE, for every partial
match the event could extend), so walking the AST per event would pay an `isinstance`
dispatch per node per event. Instead each node is compiled *once* into a small Python
function, and a parent's function calls its children's functions directly. Constants (keys,
literals, pre-compiled regexes, frozen sets) are bound as default arguments so that the
closures read them as fast locals. Common shapes are specialised at compile time: a
comparison between a one-part attribute and a literal becomes one function that reads the
key, checks the value's type against the type picked by the literal, and compares. User text
never reaches `eval`/`exec`: every closure is written here and merely composed.

How three-valued logic is kept. Values are JSON values (`None` is SQL NULL). In *value* mode
(`_Compiler.value`) every predicate returns `True`, `False` or `None` (UNKNOWN): comparisons
with null or with incompatible types give `None`, and AND/OR/NOT follow Kleene logic. A
condition only needs to know whether its result is TRUE, so `compile_condition` compiles in
*strict* modes instead: `_Compiler.true(e)` returns a function that is `True` exactly when
`e` is TRUE, and `_Compiler.false(e)` one that is `True` exactly when `e` is FALSE. They
compose soundly (De Morgan over Kleene logic):

    true(a AND b)  = true(a) and true(b)      false(a AND b) = false(a) or false(b)
    true(a OR b)   = true(a) or true(b)       false(a OR b)  = false(a) and false(b)
    true(NOT a)    = false(a)                 false(NOT a)   = true(a)

so UNKNOWN is never confused with FALSE under NOT (`NOT (x < 5)` is TRUE only when `x` is a
number >= 5, never when it is missing), yet no closure ever materialises an UNKNOWN value
on the strict path. Nodes without a strict form fall back to `value(e)(...) is True/False`.

Semantics (the language contract, `docs/language.md`):

* Numbers are int and float (bool is *not* a number); they compare numerically. Strings
  compare with strings (case-sensitive, code-point order). Booleans, lists and objects only
  support `=`/`!=` against the same type. Any other mix, or a null operand, is UNKNOWN.
* Arithmetic is numeric only; null, a non-number, division/modulo by zero or an overflow
  give null. `/` is true division (`7 / 2 = 3.5`); `%` is SQL's truncated modulo (the sign
  of the dividend: `-7 % 3 = -1`).
* `x IN (...)` is the Kleene OR of `x = item`; `CONTAINS` needs a list operand (else
  UNKNOWN); `CONTAINS ALL/ANY` are the Kleene AND/OR of one `CONTAINS` per item.
* `LIKE` is an anchored, case-sensitive SQL pattern (`%`, `_`; no escape character).
  `MATCHES` is `re.search`. Patterns are compiled at compile time; a non-string operand is
  UNKNOWN. MATCHES rejects regexes with nested quantifiers (see `_nested_quantifier`).
* Functions return null for a wrongly typed argument: LOWER/UPPER (strings), ABS, LEN
  (strings, lists, objects), COALESCE (first non-null, evaluated lazily), FLOOR/CEIL (ints),
  ROUND(x [, n]) half away from zero on the decimal value (`ROUND(2.675, 2) = 2.68`): an int
  for ROUND(x) and for int x, a float for ROUND(float, n).
* Aggregates: `FIRST/LAST(v.x [, n])`, `COUNT(v)`, `COUNT(v.x)`, `COUNT(*)`,
  `SUM/AVG/MIN/MAX(v.x)`; their argument is evaluated per bound event of `v`. An argument
  naming no variable (`SUM(price)`) ranges over all events of the match (the "universal"
  row pattern variable of SQL:2016). Nulls are ignored; no value gives null (COUNT: 0); a
  non-numeric value makes SUM/AVG null, a mix of strings and numbers makes MIN/MAX null.

The package is split by concern; each module reads in one sitting:

* `values`     the Bindings protocol, `Fn`, type families and SQL three-valued semantics
* `compiler`   `_Compiler` (names, constants, value and strict modes, comparisons) and the
               entry points `compile_expr` / `compile_condition`
* `fastpaths`  specialised `attribute op literal` closures
* `predicates` BETWEEN, IN, IS NULL, CONTAINS, LIKE, MATCHES (a `_Compiler` mixin)
* `patterns`   LIKE and MATCHES matching, including the nested-quantifier ReDoS guard
* `functions`  scalar functions and their calls (a `_Compiler` mixin)
* `aggregates` FIRST/LAST/COUNT/SUM/AVG/MIN/MAX over bindings (a `_Compiler` mixin)
* `compose`    AND/OR chains (strict and Kleene) and attribute path getters
* `refs`       `referenced_variables` / `referenced_attributes` and tree walking
* `source`     canonical source text for explain output
"""

from __future__ import annotations

# The public API is `__all__`; the `_name as _name` imports re-export private helpers that
# tests import from `cep.lang.expr`.
from cep.lang.expr.compiler import CompiledExpr, compile_condition, compile_expr
from cep.lang.expr.compiler import _Compiler as _Compiler
from cep.lang.expr.patterns import _nested_quantifier as _nested_quantifier
from cep.lang.expr.refs import referenced_attributes, referenced_variables
from cep.lang.expr.source import _to_text as _to_text
from cep.lang.expr.values import AGGREGATES, FUNCTIONS, Bindings

__all__ = [
    "AGGREGATES",
    "FUNCTIONS",
    "Bindings",
    "CompiledExpr",
    "compile_condition",
    "compile_expr",
    "referenced_attributes",
    "referenced_variables",
]

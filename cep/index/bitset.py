"""Python ints as bitsets: building them from slot lists and reading their set bits.

Why these helpers: set algebra on ints runs at C speed, but turning a result back into
slot numbers is where pure Python is slow. `m & -m` and `~m` take CPython's two's-complement
path (10x slower than `&` on large ints), so reading goes from the top bit down, and a
dense result is cut into 4096-bit chunks through `to_bytes` so each step stays small.
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["bits", "from_slots"]

_SPARSE_STEPS = 16
_CHUNK = 512  # bytes per chunk of a dense result
_ZERO = bytes(_CHUNK)


def bits(m: int) -> list[int]:
    """Set bit positions of `m` (a non-negative int), highest first for sparse masks."""
    out: list[int] = []
    n = 0
    while m and n < _SPARSE_STEPS:
        t = m.bit_length() - 1
        out.append(t)
        m ^= 1 << t
        n += 1
    if not m:
        return out
    nb = (m.bit_length() + 7) >> 3
    raw = m.to_bytes(nb, "little")
    zero = _ZERO
    append = out.append
    for off in range(0, nb, _CHUNK):
        chunk = raw[off : off + _CHUNK]
        if chunk == zero[: len(chunk)]:
            continue
        c = int.from_bytes(chunk, "little")
        base = off << 3
        while c:
            t = c.bit_length() - 1
            append(base + t)
            c ^= 1 << t
    return out


def from_slots(slots: Iterable[int], nbits: int) -> int:
    """An int with the given bits set (linear time, unlike OR-ing `1 << s` one by one)."""
    buf = bytearray((nbits + 8) >> 3)
    for s in slots:
        buf[s >> 3] |= 1 << (s & 7)
    return int.from_bytes(buf, "little")

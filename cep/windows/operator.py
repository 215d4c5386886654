"""The window operator: per-key window state, fired by the watermark, snapshot to JSON.

The engine will own time (per-partition watermarks, idleness) and call this with events and
watermarks; the operator owns window state. Lateness is decided with the watermark the caller
passes for the event's own partition, firing with the global one (`on_watermark`), so replay
order across partitions never changes results. Late events come back as `Late` with a reason.

A window accepts events while `W <= max_ts + lateness` (max_ts: the latest event time the
window can hold); it fires on time once `W > max_ts` and is final (state dropped) once
`W > max_ts + lateness`. Sliding and session windows accept an event at t only while
`W <= t + lateness`, so a late event never meets state that was already dropped.
"""

from __future__ import annotations

import heapq
from bisect import bisect_left, bisect_right, insort
from dataclasses import dataclass
from typing import Any

import orjson

from cep.windows.assign import Hopping, Session, Sliding
from cep.windows.spec import WindowSpec

SNAPSHOT_FORMAT = 1
NO_TIME = -(2**63)
END_OF_TIME = 2**63 - 1
ONTIME, PURGE, PANE = 0, 1, 2  # timer phases, in firing order at equal deadlines


@dataclass(frozen=True, slots=True)
class Result:
    """A window result: kind is final, ontime, update or retract; row is the output event."""

    kind: str
    key: tuple
    window_start: int
    window_end: int
    row: dict


@dataclass(frozen=True, slots=True)
class Late:
    """An event (or part of it) not aggregated, with the reason: for the late stream."""

    key: tuple
    ts: int
    event: Any
    reason: str
    watermark: int


def _kc(key: tuple) -> str:
    """Canonical text of a key: deterministic ordering of output and snapshots."""
    return orjson.dumps(list(key)).decode()


class WindowOperator:
    """Windowed aggregation of one statement over all its keys."""

    def __init__(self, spec: WindowSpec) -> None:
        self.spec = spec
        self.win = spec.window
        self.aggs = [a.agg for a in spec.aggregates]
        self.getters = [a.value for a in spec.aggregates]
        self.L = spec.allowed_lateness
        self.names = [n for n, _ in spec.group_by]
        self.wm = NO_TIME
        self.late_count = 0
        self._reset()

    def _reset(self) -> None:
        """Empty state."""
        # (key, start, end) -> [states | None, emitted, ontime_done]
        self.wins: dict[tuple, list] = {}
        self.timers: list[tuple] = []
        self.panes: dict[tuple, dict[int, list]] = {}  # sliding: key -> ts -> states
        self.ptimes: dict[tuple, list[int]] = {}  # sliding: key -> sorted pane times
        self.starts: dict[tuple, list[int]] = {}  # sliding/session: key -> sorted starts
        self.sess: dict[tuple, dict[int, int]] = {}  # session: key -> first -> last

    # ------------------------------------------------------------------ events

    def on_event(self, key: tuple, ts: int, event: Any, watermark: int | None = None) -> list:
        """Add one event; returns results due now (update modes) and Late records."""
        wp = self.wm if watermark is None else max(watermark, self.wm)
        vals = [g(event) if g is not None else None for g in self.getters]
        if isinstance(self.win, Hopping):
            return self._hopping(key, ts, event, vals, wp)
        if ts + self.L < wp:
            return [
                self._late(
                    key,
                    ts,
                    event,
                    wp,
                    f"event time {ts} is more than the allowed "
                    f"lateness {self.L} ms behind the watermark {wp}",
                )
            ]
        if isinstance(self.win, Sliding):
            return self._sliding(key, ts, event, vals, wp)
        return self._session(key, ts, event, vals, wp)

    def _late(self, key: tuple, ts: int, event: Any, wp: int, reason: str) -> Late:
        """Count and build a Late record."""
        self.late_count += 1
        return Late(key, ts, event, reason, wp)

    def _add(self, states: list, vals: list) -> None:
        """Add one event's values to a list of aggregate states."""
        for i, a in enumerate(self.aggs):
            states[i] = a.add(states[i], vals[i])

    def _full(self, n: int) -> bool:
        """True when n more windows would pass the state budget."""
        return len(self.wins) + n > self.spec.max_windows

    def _hopping(self, key: tuple, ts: int, event: Any, vals: list, wp: int) -> list:
        """Tumbling/hopping: update every open window holding ts."""
        out: list = []
        open_, closed = [], []
        for s, e in self.win.windows(ts):
            (open_ if wp <= e - 1 + self.L else closed).append((s, e))
        if not open_:
            return [
                self._late(
                    key,
                    ts,
                    event,
                    wp,
                    f"all windows of event time {ts} closed "
                    f"(watermark {wp}, allowed lateness {self.L} ms)",
                )
            ]
        new = [w for w in open_ if (key, *w) not in self.wins]
        if new and self._full(len(new)):
            return [self._late(key, ts, event, wp, "state limit: max_windows reached")]
        for s, e in open_:
            ws = self.wins.get((key, s, e))
            if ws is None:
                ws = self.wins[(key, s, e)] = [[a.new() for a in self.aggs], False, False]
                self._arm(key, s, e, e - 1)
            self._add(ws[0], vals)
            self._changed(out, key, s, e, ws, e - 1)
        if closed:
            out.append(
                self._late(
                    key, ts, event, wp, f"partially late: not added to closed windows {closed}"
                )
            )
        return out

    def _sliding(self, key: tuple, ts: int, event: Any, vals: list, wp: int) -> list:
        """Sliding: add to the pane at ts, create the windows the record makes, re-emit."""
        d = self.win.difference
        panes = self.panes.setdefault(key, {})
        times = self.ptimes.setdefault(key, [])
        starts = self.starts.setdefault(key, [])
        pane = panes.get(ts)
        if pane is None:
            if self._full(3):
                return [self._late(key, ts, event, wp, "state limit: max_windows reached")]
            pane = panes[ts] = [a.new() for a in self.aggs]
            insort(times, ts)
            heapq.heappush(self.timers, (ts + d + 1 + self.L, PANE, ts, ts, _kc(key), key))
        self._add(pane, vals)
        want = {ts - d}  # left window of ts
        i = bisect_right(times, ts)
        if i < len(times) and times[i] <= ts + 1 + d:
            want.add(ts + 1)  # right window of ts: a later record is in it
        for r in times[bisect_left(times, ts - d - 1) : bisect_left(times, ts)]:
            want.add(r + 1)  # right windows of earlier records now holding ts
        lo, hi = bisect_left(starts, ts - d), bisect_right(starts, ts)
        want.update(starts[lo:hi])  # existing windows holding ts
        out: list = []
        for s in sorted(want):
            ws = self.wins.get((key, s, s + d))
            if ws is None:
                ws = self.wins[(key, s, s + d)] = [None, False, False]
                insort(starts, s)
                self._arm(key, s, s + d, s + d)
            self._changed(out, key, s, s + d, ws, s + d)
        return out

    def _session(self, key: tuple, ts: int, event: Any, vals: list, wp: int) -> list:
        """Session: join, extend or merge sessions within the gap of ts."""
        g = self.win.gap
        sess = self.sess.setdefault(key, {})
        starts = self.starts.setdefault(key, [])
        hit = []
        i = bisect_right(starts, ts + g)  # sessions are disjoint: lasts sort like firsts
        while i > 0 and sess[starts[i - 1]] + g >= ts:
            i -= 1
            hit.append(starts[i])
        hit.reverse()
        if not hit and self._full(1):
            return [self._late(key, ts, event, wp, "state limit: max_windows reached")]
        out: list = []
        first = min([ts, *hit])
        last = max([ts, *(sess[f] for f in hit)])
        states = None
        keep = None
        for f in hit:
            ws = self.wins.pop((key, f, sess[f]))
            if (f, sess[f]) == (first, last):
                keep = ws
            elif ws[1] and self.spec.emit != "final":
                out.append(self._result("retract", key, f, sess[f], ws[0]))
            states = ws[0] if states is None else self._merge(states, ws[0])
            del sess[f]
            starts.remove(f)
        if states is None:
            states = [a.new() for a in self.aggs]
        self._add(states, vals)
        ws = keep if keep is not None else [states, False, False]
        ws[0] = states
        self.wins[(key, first, last)] = ws
        sess[first] = last
        insort(starts, first)
        if keep is None:
            self._arm(key, first, last, last + g)
        self._changed(out, key, first, last, ws, last + g)
        return out

    def _merge(self, a: list, b: list) -> list:
        """Merge states b into a."""
        for i, agg in enumerate(self.aggs):
            a[i] = agg.merge(a[i], b[i])
        return a

    # ---------------------------------------------------------------- emitting

    def _arm(self, key: tuple, s: int, e: int, max_ts: int) -> None:
        """Schedule the on-time firing (if the mode has one) and the final purge."""
        kc = _kc(key)
        if self.spec.emit == "on_time_then_updates":
            heapq.heappush(self.timers, (max_ts, ONTIME, s, e, kc, key))
        heapq.heappush(self.timers, (max_ts + self.L, PURGE, s, e, kc, key))

    def _changed(self, out: list, key: tuple, s: int, e: int, ws: list, max_ts: int) -> None:
        """Emit an update for a changed window if the emit mode wants one now."""
        mode = self.spec.emit
        if mode == "every_update" or (mode == "on_time_then_updates" and self.wm > max_ts):
            ws[2] = True
            self._emit(out, "update", key, s, e, ws)

    def _states(self, key: tuple, s: int, e: int, ws: list) -> list:
        """A window's aggregate states (sliding windows merge their panes now)."""
        if ws[0] is not None:
            return ws[0]
        panes, times = self.panes[key], self.ptimes[key]
        acc = [a.new() for a in self.aggs]
        for t in times[bisect_left(times, s) : bisect_right(times, e)]:
            self._merge(acc, panes[t])
        return acc

    def _result(self, kind: str, key: tuple, s: int, e: int, states: list) -> Result:
        """Build a result row: window bounds, GROUP BY values, aggregate aliases."""
        row: dict[str, Any] = {"window_start": s, "window_end": e}
        row.update(zip(self.names, key))
        for a, sp, st in zip(self.aggs, self.spec.aggregates, states):
            row[sp.alias] = a.result(st)
        return Result(kind, key, s, e, row)

    def _emit(self, out: list, kind: str, key: tuple, s: int, e: int, ws: list) -> None:
        """Append a result if HAVING passes; retract an earlier one that no longer does."""
        r = self._result(kind, key, s, e, self._states(key, s, e, ws))
        having = self.spec.having
        if having is None or having(r.row):
            ws[1] = True
            out.append(r)
        elif ws[1] and kind != "final":
            ws[1] = False
            out.append(Result("retract", key, s, e, r.row))

    def on_watermark(self, wm: int) -> list[Result]:
        """Advance the firing watermark; returns on-time and final results, in time order."""
        if wm <= self.wm:
            return []
        self.wm = wm
        out: list[Result] = []
        timers = self.timers
        while timers and timers[0][0] < wm:
            _, phase, s, e, _, key = heapq.heappop(timers)
            if phase == PANE:
                self._drop_pane(key, s)
                continue
            ws = self.wins.get((key, s, e))
            if ws is None:
                continue  # merged into another session
            if phase == ONTIME:
                if not ws[2]:
                    ws[2] = True
                    self._emit(out, "ontime", key, s, e, ws)
                continue
            if self.spec.emit == "final":
                self._emit(out, "final", key, s, e, ws)
            self._drop_window(key, s, e)
        return out

    def close_all(self) -> list[Result]:
        """End of input: fire and drop every window (replay does this at the end)."""
        return self.on_watermark(END_OF_TIME)

    def _drop_window(self, key: tuple, s: int, e: int) -> None:
        """Forget a window."""
        del self.wins[(key, s, e)]
        if key in self.starts:
            starts = self.starts[key]
            starts.pop(bisect_left(starts, s))
            if key in self.sess:
                del self.sess[key][s]
                if not starts:
                    del self.sess[key], self.starts[key]
            elif not starts:
                del self.starts[key]

    def _drop_pane(self, key: tuple, ts: int) -> None:
        """Forget a sliding pane no window or future event can need."""
        del self.panes[key][ts]
        times = self.ptimes[key]
        times.pop(bisect_left(times, ts))
        if not times:
            del self.panes[key], self.ptimes[key]

    # ------------------------------------------------------------ state, checkpoints

    def state_size(self) -> dict[str, int]:
        """Live state: keys, windows, panes, retained values, timers."""
        values = 0
        for ws in self.wins.values():
            if ws[0] is not None:
                values += sum(a.size(s) for a, s in zip(self.aggs, ws[0]))
        n_panes = 0
        for panes in self.panes.values():
            n_panes += len(panes)
            for st in panes.values():
                values += sum(a.size(s) for a, s in zip(self.aggs, st))
        keys = {k for k, _, _ in self.wins} | set(self.panes)
        return {
            "keys": len(keys),
            "windows": len(self.wins),
            "panes": n_panes,
            "values": values,
            "timers": len(self.timers),
        }

    def state_bytes(self) -> int:
        """Size of the state as checkpointed (bytes of the snapshot)."""
        return len(self.snapshot())

    def _dump(self, states: list | None) -> list | None:
        """Aggregate states as JSON-able data."""
        if states is None:
            return None
        return [a.dump(s) for a, s in zip(self.aggs, states)]

    def _load(self, data: list | None) -> list | None:
        """Inverse of _dump."""
        if data is None:
            return None
        return [a.load(d) for a, d in zip(self.aggs, data)]

    def snapshot(self) -> bytes:
        """All state as JSON bytes (never pickle), deterministic for equal state."""
        wins = sorted(
            (
                [_kc(k), list(k), s, e, self._dump(ws[0]), ws[1], ws[2]]
                for (k, s, e), ws in self.wins.items()
            ),
            key=lambda w: (w[0], w[2], w[3]),
        )
        panes = sorted(
            (
                [_kc(k), list(k), t, self._dump(st)]
                for k, p in self.panes.items()
                for t, st in p.items()
            ),
            key=lambda p: (p[0], p[2]),
        )
        return orjson.dumps(
            {
                "format": SNAPSHOT_FORMAT,
                "watermark": self.wm,
                "late": self.late_count,
                "windows": [w[1:] for w in wins],
                "panes": [p[1:] for p in panes],
            }
        )

    def restore(self, data: bytes) -> None:
        """Replace all state by a snapshot taken by `snapshot` (same spec)."""
        state = orjson.loads(data)
        if state.get("format") != SNAPSHOT_FORMAT:
            raise ValueError(f"unsupported window snapshot format {state.get('format')!r}")
        self._reset()
        self.wm = state["watermark"]
        self.late_count = state["late"]
        for k, t, st in state["panes"]:
            key = tuple(k)
            self.panes.setdefault(key, {})[t] = self._load(st)
            insort(self.ptimes.setdefault(key, []), t)
            heapq.heappush(
                self.timers, (t + self.win.difference + 1 + self.L, PANE, t, t, _kc(key), key)
            )
        for k, s, e, st, emitted, ontime in state["windows"]:
            key = tuple(k)
            self.wins[(key, s, e)] = [self._load(st), emitted, ontime]
            if isinstance(self.win, Hopping):
                max_ts = e - 1
            else:
                insort(self.starts.setdefault(key, []), s)
                max_ts = e
                if isinstance(self.win, Session):
                    self.sess.setdefault(key, {})[s] = e
                    max_ts = e + self.win.gap
            self._arm(key, s, e, max_ts)  # an ONTIME timer finds ontime_done set: no-op

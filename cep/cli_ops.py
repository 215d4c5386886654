"""Operator commands of `cep`: apply, produce, worker, matches, status (and pause/resume/delete).

Why a module of its own: these commands all work against the configured store (`CEP_STORE`
or `--store URL`), while `cep.cli` keeps the offline tools (check, explain, replay, bench);
`cep.cli.build_parser` only calls `register(subparsers)`.

* `cep apply FILES` works like `kubectl apply`: every STREAM, RULE and SEARCH of the files is
  stored in its canonical text; the same text again is `unchanged`, a new text `updated`
  with version + 1; statements missing from the files are left alone. All files are parsed
  and checked (against the stored STREAM declarations too) before anything is written: one
  error anywhere and nothing changes. Declared streams, undeclared source streams and
  `EMIT INTO` / `LATE EVENTS TO` targets are created in the log with `--partitions`
  (default 4) if they do not exist.
* `cep produce` batch policy: events are appended in batches of `--batch` (default 1000)
  lines, one log append per batch. A bad line (not JSON, not an object, over the size or
  depth limit) is reported as FILE:LINE with the reason and skipped, the rest is appended
  (per-event policy); the exit status is 1 if any line was skipped. An event is produced
  once its batch's append returned: a crash loses at most the batch in flight, never an
  acknowledged one.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import logging
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import orjson

from cep.errors import CepError, EventError, RuleError, RuleErrors
from cep.lang import ast

__all__ = ["ApplyResult", "apply_sources", "register", "status_doc"]

DEFAULT_APPLY_PARTITIONS = 4
KINDS = {ast.StreamStmt: "stream", ast.RuleStmt: "rule", ast.SearchStmt: "search"}


def _guard(fn: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """Report configuration and storage errors as one line and exit status 2."""

    @functools.wraps(fn)
    def run(args: argparse.Namespace) -> int:
        try:
            return fn(args)
        except (CepError, OSError) as e:
            if isinstance(e, FileNotFoundError):
                raise
            print(f"cep {args.command}: {e}", file=sys.stderr)
            return 2

    return run


def _connect(url: str | None, seconds: float) -> tuple[Any, Any]:
    """Open the backends, retrying with backoff while the server cannot be reached."""
    from cep.config import ConfigError, open_backends

    deadline = time.monotonic() + seconds
    wait = 0.1
    while True:
        try:
            return open_backends(url)
        except ConfigError as e:
            if "cannot reach" not in str(e) or time.monotonic() + wait > deadline:
                raise
            logging.getLogger("cep.worker").warning("%s; retrying in %.1fs", e, wait)
            time.sleep(wait)
            wait = min(5.0, wait * 2)


def _backends(args: argparse.Namespace) -> tuple[Any, Any]:
    from cep.config import open_backends

    return open_backends(args.store)


def _close(*things: Any) -> None:
    for t in things:
        with contextlib.suppress(Exception):  # closing is best effort
            t.close()


# ------------------------------------------------------------------ apply


class _Plan:
    """What `cep apply` is about to write, or the errors that stop it."""

    def __init__(self) -> None:
        self.errors: list[RuleError] = []
        self.other_errors: list[str] = []
        self.streams: dict[str, ast.StreamStmt] = {}
        self.statements: list[ast.RuleStmt | ast.SearchStmt] = []
        self.log_streams: set[str] = set()  # every stream the statements touch


def _plan_apply(sources: list[tuple[str, str]], stored: dict[str, ast.StreamStmt]) -> _Plan:
    """Parse, check and compile every (name, text) source; never writes."""
    from cep.lang.checker import check
    from cep.lang.compiler import compile_rule, compile_search
    from cep.lang.parser import parse_collect
    from cep.lang.printer import to_text

    plan = _Plan()
    scripts: list[tuple[str, str, ast.Script]] = []
    for f, text in sources:
        script, errors = parse_collect(text, f)
        plan.errors.extend(errors)
        scripts.append((f, text, script))
        for s in script.statements:
            if isinstance(s, ast.StreamStmt):
                prev = plan.streams.get(s.name)
                if prev is not None and to_text(prev) != to_text(s):
                    plan.errors.append(RuleError(
                        s.span.line, s.span.column,
                        f"stream {s.name!r} is declared differently in another file",
                        source_name=f))
                plan.streams[s.name] = s
    declared = {**stored, **plan.streams}
    seen: dict[str, str] = {}
    for f, text, script in scripts:
        own = {id(s) for s in script.statements}
        others = {k: v for k, v in declared.items() if id(v) not in own}
        for e in check(script, text, streams=others):
            e.source_name = e.source_name or f
            plan.errors.append(e)
        for s in script.statements:
            if isinstance(s, ast.StreamStmt):
                continue
            if not isinstance(s, (ast.RuleStmt, ast.SearchStmt)):
                plan.errors.append(RuleError(s.span.line, s.span.column,
                                             "this statement kind cannot be applied yet",
                                             source_name=f))
                continue
            if s.name in seen and seen[s.name] != f:
                plan.errors.append(RuleError(
                    s.span.line, s.span.column,
                    f"statement {s.name!r} is also defined in {seen[s.name]}",
                    source_name=f))
            seen[s.name] = f
            plan.statements.append(s)
    if plan.errors:
        return plan
    for s in plan.statements:
        try:
            compile_rule(s) if isinstance(s, ast.RuleStmt) else compile_search(s)
        except RuleErrors as e:
            plan.errors.extend(e.errors)
        except (CepError, RecursionError) as e:
            plan.other_errors.append(f"statement {s.name}: {e}")
        if isinstance(s, ast.RuleStmt):
            plan.log_streams.update(src.stream for src in s.sources)
        else:
            plan.log_streams.add(s.stream)
        plan.log_streams.update(a.stream for a in s.actions if isinstance(a, ast.EmitInto))
    for st in plan.streams.values():
        plan.log_streams.add(st.name)
        if st.late_to:
            plan.log_streams.add(st.late_to)
    return plan


class ApplyResult:
    """What `apply_sources` did: per item (change, kind, name, version), or the errors."""

    def __init__(self) -> None:
        self.errors: list[str] = []
        self.created_streams: list[tuple[str, int]] = []
        self.items: list[tuple[str, str, str, int]] = []


def apply_sources(
    log: Any, store: Any, sources: list[tuple[str, str]], partitions: int | None = None,
    retention: int | None = None,
) -> ApplyResult:
    """Register the statements of (source name, text) pairs; all or nothing.

    Returns the errors (nothing written) or what was created, updated or left unchanged.
    """
    from cep.lang.printer import to_text
    from cep.registry import Loader, stream_record

    res = ApplyResult()
    stored = Loader(store).load().streams
    plan = _plan_apply(sources, stored)
    if plan.errors or plan.other_errors:
        res.errors = [str(e) for e in RuleErrors(plan.errors).errors] + plan.other_errors
        return res
    have = log.streams()
    res.errors = [
        f"stream {s!r} has {have[s]} partitions, not {partitions} "
        "(the partition count of a stream never changes)"
        for s in sorted(plan.log_streams)
        if s in have and partitions and have[s] != partitions
    ]
    if res.errors:
        return res
    wanted = partitions or DEFAULT_APPLY_PARTITIONS
    for s in sorted(plan.log_streams):
        if s not in have:
            log.create_stream(s, wanted, retention)
            res.created_streams.append((s, wanted))
    items: list[tuple[str, str, str, Any]] = [
        (stream_record(n), "stream", n, s) for n, s in sorted(plan.streams.items())
    ] + [(s.name, KINDS[type(s)], s.name, s) for s in plan.statements]
    for record, kind, shown, stmt in items:
        rec = store.put_statement(record, to_text(stmt), enabled=None)
        res.items.append((rec.change, kind, shown, rec.version))
    return res


def cmd_apply(args: argparse.Namespace) -> int:
    """Register or update the statements of FILES; nothing changes if any file is bad."""
    from cep.cli import rule_files

    sources = [(str(f), f.read_text(encoding="utf-8")) for f in rule_files(args.files)]
    log, store = _backends(args)
    try:
        res = apply_sources(log, store, sources, args.partitions, args.retention)
    finally:
        _close(log, store)
    if res.errors:
        for e in res.errors:
            print(e, file=sys.stderr)
        print(f"{len(res.errors)} error(s); nothing was applied", file=sys.stderr)
        return 1
    for s, n in res.created_streams:
        print(f"created   log stream {s} ({n} partitions)")
    counts = {"created": 0, "updated": 0, "unchanged": 0}
    for change, kind, name, version in res.items:
        counts[change] += 1
        print(f"{change:<9} {kind} {name} (v{version})")
    print(f"{counts['created']} created, {counts['updated']} updated, "
          f"{counts['unchanged']} unchanged", file=sys.stderr)
    return 0


# ------------------------------------------------------------------ produce


def _batches(lines: Iterator[tuple[int, dict | None, str]], size: int, path: str,
             bad: list[int]) -> Iterator[list[tuple[int, dict]]]:
    batch: list[tuple[int, dict]] = []
    for n, ev, error in lines:
        if ev is None:
            bad.append(n)
            print(f"{path}:{n}: {error}", file=sys.stderr)
            continue
        batch.append((n, ev))
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def cmd_produce(args: argparse.Namespace) -> int:
    """Append events from a JSON-lines file (or stdin) in batches, with a progress bar."""
    from tqdm import tqdm

    from cep.cli import read_events
    from cep.lang.compiler import path_getter
    from cep.registry import Loader

    log, store = _backends(args)
    try:
        streams = log.streams()
        if args.stream not in streams:
            if not args.partitions:
                print(f"cep produce: unknown stream {args.stream!r}: declare it and `cep apply`, "
                      "or pass --partitions N to create it", file=sys.stderr)
                return 2
            log.create_stream(args.stream, args.partitions)
        if args.key:
            key_path: tuple[str, ...] | None = tuple(args.key.split("."))
        else:
            decl = Loader(store).load().streams.get(args.stream)
            key_path = decl.key if decl is not None else None
        get_key = path_getter(key_path) if key_path else None
        bad: list[int] = []
        appended = 0
        t0 = time.perf_counter()
        bar = tqdm(unit=" events", file=sys.stderr, mininterval=0.5,
                   disable=None if not args.progress else False)
        try:
            for batch in _batches(read_events(args.file, sys.stderr), args.batch, args.file, bad):
                while batch:
                    evs = [ev for _, ev in batch]
                    keys = [get_key(ev) for ev in evs] if get_key else None
                    try:
                        log.append(args.stream, evs, keys)
                    except EventError as e:
                        line = batch[e.index][0]
                        print(f"{args.file}:{line}: {e.message}", file=sys.stderr)
                        bad.append(line)
                        del batch[e.index]  # nothing of the batch was written: retry the rest
                        continue
                    appended += len(batch)
                    bar.update(len(batch))
                    batch = []
        finally:
            bar.close()
        dt = time.perf_counter() - t0
        print(f"appended {appended:,} events to {args.stream} in {dt:.1f}s"
              f"{f'; {len(bad)} bad line(s) skipped' if bad else ''}", file=sys.stderr)
        return 1 if bad else 0
    finally:
        _close(log, store)


# ------------------------------------------------------------------ worker


def cmd_worker(args: argparse.Namespace) -> int:
    """Run the engine over the log until stopped (or, with --drain, until caught up)."""
    from cep.worker import Worker

    logging.basicConfig(level=getattr(logging, args.log_level.upper()), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    log, store = _connect(args.store, args.connect_timeout)
    parts = [int(x) for x in args.partitions.split(",")] if args.partitions else None
    w = Worker(
        log, store, partitions=parts,
        checkpoint_every_events=args.checkpoint_events,
        checkpoint_every_ms=args.checkpoint_ms,
        batch_size=args.batch, group=args.group, trace=args.trace,
        alert_stream=None if args.no_alerts else args.alert_stream,
    )
    stop = threading.Event()

    def on_signal(signum: int, _frame: Any) -> None:
        logging.getLogger("cep.worker").info("signal %d: committing and stopping", signum)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    t0 = time.perf_counter()
    try:
        stats = w.run(drain=args.drain, stop=stop, max_seconds=args.max_seconds)
    finally:
        w.close()
        _close(log, store)
    stats["seconds"] = round(time.perf_counter() - t0, 3)
    stats["events"] = sum(p["events"] for p in stats["partitions"].values())
    print(orjson.dumps(stats).decode(), file=sys.stderr)
    return 0


# ------------------------------------------------------------------ matches


def cmd_matches(args: argparse.Namespace) -> int:
    """Print stored matches as JSON lines, each with its `id`, in commit order."""
    log, store = _backends(args)
    out: Any = open(args.out, "wb") if args.out else sys.stdout.buffer  # noqa: SIM115
    n = 0
    try:
        cursor = None
        while True:
            page, cursor = store.list_matches(args.statement, cursor, 1000)
            if not page:
                break
            for m in page:
                out.write(orjson.dumps({"id": m.get("match_id"), **m}) + b"\n")
            n += len(page)
    finally:
        if args.out:
            out.close()
        else:
            out.flush()
        _close(log, store)
    print(f"{n} match(es)", file=sys.stderr)
    return 0


# ------------------------------------------------------------------ status


def status_doc(log: Any, store: Any, group: str) -> dict[str, Any]:
    """Streams, statements and per partition lag, as one JSON-ready document."""
    from cep.lag import group_report
    from cep.registry import Loader

    reg = Loader(store).load()
    streams = []
    for name, n in sorted(log.streams().items()):
        ends = log.end_offsets(name)
        streams.append({"name": name, "partitions": n, "entries": sum(ends),
                        "end_offsets": ends, "retention": log.retention(name)})
    statements = [
        {"name": r.name, "version": r.version, "enabled": r.enabled,
         "error": reg.errors.get(r.name)}
        for r in reg.records.values()
    ]
    lag = group_report(log, store, group, reg.consumed_streams(), reg.specs)
    return {
        "group": group,
        "streams": streams,
        "statements": statements,
        "partitions": [x.to_dict() for x in lag],
        "outbox_pending": store.outbox_depth(),
        "matches": store.match_count(),
    }


def _fmt(v: Any) -> str:
    return "unknown" if v is None else str(v)


def cmd_status(args: argparse.Namespace) -> int:
    """Print streams, statements and per partition offsets, lag and status."""
    log, store = _backends(args)
    try:
        doc = status_doc(log, store, args.group)
    finally:
        _close(log, store)
    if args.json:
        sys.stdout.write(orjson.dumps(doc, option=orjson.OPT_INDENT_2).decode() + "\n")
        return 0
    print("streams:")
    for s in doc["streams"]:
        ret = s["retention"] if s["retention"] is not None else "unlimited"
        print(f"  {s['name']:<24} partitions={s['partitions']} entries={s['entries']} "
              f"retention={ret}")
    print("statements:")
    for s in doc["statements"]:
        state = "enabled" if s["enabled"] else "paused"
        err = f"  NOT RUNNING: {s['error']}" if s["error"] else ""
        print(f"  {s['name']:<24} v{s['version']} {state}{err}")
    print(f"partitions (group {doc['group']}):")
    for p in doc["partitions"]:
        offs = ", ".join(
            f"{x['stream']} {_fmt(x['committed_offset'])}/{x['end_offset']}"
            + (f" (lag unknown: {x['unknown_reason']})" if x["unknown_reason"] else "")
            for x in p["streams"]
        )
        warn = "  FALLING BEHIND (near retention)" if p["near_retention"] else ""
        print(f"  {p['partition']:>3} {p['status']:<7} lag={_fmt(p['lag_entries'])} "
              f"event_time_lag_ms={_fmt(p['event_time_lag_ms'])} commits={p['commits']} "
              f"[{offs}]{warn}")
    print(f"matches={doc['matches']} outbox_pending={doc['outbox_pending']}")
    return 0


# ------------------------------------------------------------------ pause, resume, delete


def _set(args: argparse.Namespace, enabled: bool | None) -> int:
    log, store = _backends(args)
    try:
        if enabled is None:
            ok = store.delete_statement(args.name)
            what = "deleted"
        else:
            ok = store.set_enabled(args.name, enabled) is not None
            what = "resumed" if enabled else "paused"
    finally:
        _close(log, store)
    if not ok:
        print(f"no statement named {args.name!r}", file=sys.stderr)
        return 1
    print(f"{what} {args.name}")
    return 0


def cmd_pause(args: argparse.Namespace) -> int:
    """Pause a statement (its state is dropped; resuming starts at the current offset)."""
    return _set(args, False)


def cmd_resume(args: argparse.Namespace) -> int:
    """Resume a paused statement."""
    return _set(args, True)


def cmd_delete(args: argparse.Namespace) -> int:
    """Delete a statement (its version counter is kept)."""
    return _set(args, None)


# ------------------------------------------------------------------ parser


def _store_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--store", default=None,
                   help="store URL (default: $CEP_STORE, else sqlite:///./cep.db)")


def register(sub: Any) -> None:
    """Add the operator commands to `cep`'s subparsers."""
    from cep.worker import (
        DEFAULT_BATCH,
        DEFAULT_CHECKPOINT_EVENTS,
        DEFAULT_CHECKPOINT_MS,
        DEFAULT_GROUP,
    )

    a = sub.add_parser("apply", help="register or update statements in the store")
    a.add_argument("files", nargs="+", help="rule files or directories (*.cep)")
    a.add_argument("--partitions", type=int, default=None,
                   help=f"partitions of streams created here (default {DEFAULT_APPLY_PARTITIONS})")
    a.add_argument("--retention", type=int, default=None,
                   help="max entries per partition of streams created here (default unlimited)")
    _store_arg(a)
    a.set_defaults(func=_guard(cmd_apply))

    p = sub.add_parser("produce", help="append events (JSON lines) to a stream")
    p.add_argument("--stream", required=True, help="stream to append to")
    p.add_argument("file", nargs="?", default="-", help="JSON-lines file ('-': stdin)")
    p.add_argument("--batch", type=int, default=1000, help="events per append (default 1000)")
    p.add_argument("--key", help="partition key attribute (default: the stream's KEY)")
    p.add_argument("--partitions", type=int, default=None,
                   help="create the stream with this many partitions if it does not exist")
    p.add_argument("--progress", action="store_true",
                   help="show the progress bar even when stderr is not a terminal")
    _store_arg(p)
    p.set_defaults(func=_guard(cmd_produce))

    w = sub.add_parser("worker", help="run the engine over the log")
    w.add_argument("--drain", action="store_true",
                   help="exit once every partition is caught up and committed")
    w.add_argument("--partitions", help="comma-separated partitions to own (default: all)")
    w.add_argument("--group", default=DEFAULT_GROUP, help=f"worker group (default {DEFAULT_GROUP})")
    w.add_argument("--checkpoint-events", type=int, default=DEFAULT_CHECKPOINT_EVENTS,
                   help=f"commit every N events (default {DEFAULT_CHECKPOINT_EVENTS})")
    w.add_argument("--checkpoint-ms", type=int, default=DEFAULT_CHECKPOINT_MS,
                   help=f"commit at least every T ms (default {DEFAULT_CHECKPOINT_MS})")
    w.add_argument("--batch", type=int, default=DEFAULT_BATCH,
                   help=f"events read per partition and round (default {DEFAULT_BATCH})")
    w.add_argument("--trace", help="append every restore and commit as a JSON line here")
    w.add_argument("--alert-stream", default="cep_alerts",
                   help="stream for falling-behind alerts (default cep_alerts)")
    w.add_argument("--no-alerts", action="store_true", help="do not append alert events")
    w.add_argument("--max-seconds", type=float, default=None, help="stop after this long")
    w.add_argument("--connect-timeout", type=float, default=60.0,
                   help="keep retrying an unreachable store this long at start (default 60 s)")
    w.add_argument("--log-level", default="info", help="debug, info, warning, error")
    _store_arg(w)
    w.set_defaults(func=_guard(cmd_worker))

    m = sub.add_parser("matches", help="print stored matches as JSON lines")
    m.add_argument("--statement", help="only this statement's matches")
    m.add_argument("--out", help="write here instead of stdout")
    _store_arg(m)
    m.set_defaults(func=_guard(cmd_matches))

    s = sub.add_parser("status", help="partitions, offsets, lag and status")
    s.add_argument("--group", default=DEFAULT_GROUP, help=f"worker group (default {DEFAULT_GROUP})")
    s.add_argument("--json", action="store_true", help="machine-readable output")
    _store_arg(s)
    s.set_defaults(func=_guard(cmd_status))

    for name, fn, text in (("pause", cmd_pause, "pause a statement"),
                           ("resume", cmd_resume, "resume a paused statement"),
                           ("delete", cmd_delete, "delete a statement")):
        c = sub.add_parser(name, help=text)
        c.add_argument("name", help="statement name")
        _store_arg(c)
        c.set_defaults(func=_guard(fn))

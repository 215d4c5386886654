"""`cep` command line: check, explain, replay, bench (argparse, one function per command)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, TextIO

import orjson

from cep import cli_ops
from cep.errors import RuleError, RuleErrors
from cep.lang import ast

__all__ = ["main"]


def rule_files(paths: Sequence[str]) -> list[Path]:
    """Expand files and directories (recursively, `*.cep`) in a stable order."""
    out: list[Path] = []
    for p in paths:
        path = Path(p)
        if path.is_dir():
            out.extend(sorted(path.rglob("*.cep")))
        elif path.exists():
            out.append(path)
        else:
            raise FileNotFoundError(f"no such file or directory: {p}")
    return out


class LoadedRules:
    """Statements of several files, parsed and checked together (streams shared)."""

    def __init__(self) -> None:
        self.scripts: list[tuple[Path, str, ast.Script]] = []
        self.errors: list[RuleError] = []
        self.streams: dict[str, ast.StreamStmt] = {}


def load_rules(paths: Sequence[str]) -> LoadedRules:
    """Parse every file, collect STREAM declarations, check each file; never raises RuleError."""
    from cep.lang.checker import check
    from cep.lang.parser import parse_collect

    loaded = LoadedRules()
    for f in rule_files(paths):
        text = f.read_text(encoding="utf-8")
        script, errors = parse_collect(text, str(f))
        loaded.errors.extend(errors)
        loaded.scripts.append((f, text, script))
        for s in script.statements:
            if isinstance(s, ast.StreamStmt):
                loaded.streams[s.name] = s
    for f, text, script in loaded.scripts:
        others = {
            k: v for k, v in loaded.streams.items() if not any(s is v for s in script.statements)
        }
        for e in check(script, text, streams=others):
            e.source_name = e.source_name or str(f)
            loaded.errors.append(e)
    from cep.lang.depgraph import cycle_errors

    all_statements = [s for _, _, script in loaded.scripts for s in script.statements]
    defined_in = {s.name: str(f) for f, _, script in loaded.scripts for s in script.statements}
    loaded.errors.extend(cycle_errors(all_statements, defined_in))
    names: dict[str, Path] = {}
    for f, _, script in loaded.scripts:
        for s in script.statements:
            if isinstance(s, ast.StreamStmt):
                continue
            if s.name in names and names[s.name] != f:
                loaded.errors.append(
                    RuleError(
                        s.span.line,
                        s.span.column,
                        f"statement {s.name!r} is also defined in {names[s.name]}",
                        source_name=str(f),
                    )
                )
            names[s.name] = f
    return loaded


def compile_loaded(loaded: LoadedRules) -> tuple[list[Any], dict[str, Any]]:
    """Compile checked statements into runtime plans."""
    from cep.lang.compiler import StreamSpec, compile_aggregate, compile_rule, compile_search

    specs = {name: StreamSpec.from_ast(s) for name, s in loaded.streams.items()}
    stmts: list[Any] = []
    for _, _, script in loaded.scripts:
        for s in script.statements:
            if isinstance(s, ast.RuleStmt):
                stmts.append(compile_rule(s))
            elif isinstance(s, ast.SearchStmt):
                stmts.append(compile_search(s))
            elif isinstance(s, ast.AggregateStmt):
                stmts.append(compile_aggregate(s))
    return stmts, specs


def _print_errors(errors: list[RuleError], err: TextIO) -> None:
    for e in RuleErrors(errors).errors:
        print(str(e), file=err)


def cmd_check(args: argparse.Namespace) -> int:
    """Compile rule files; print every error with file:line:column and a caret."""
    loaded = load_rules(args.files)
    if loaded.errors:
        _print_errors(loaded.errors, sys.stderr)
        print(f"{len(loaded.errors)} error(s)", file=sys.stderr)
        return 1
    n = sum(
        1 for _, _, s in loaded.scripts for st in s.statements if not isinstance(st, ast.StreamStmt)
    )
    stmts, _ = compile_loaded(loaded)  # compiling may still hit limits
    print(f"ok: {n} statement(s), {len(loaded.streams)} stream(s) in {len(loaded.scripts)} file(s)")
    return 0 if len(stmts) == n else 1


def cmd_explain(args: argparse.Namespace) -> int:
    """Print the NFA of one or all statements (states, edges, predicates)."""
    from cep.nfa.graph import START, to_networkx

    loaded = load_rules(args.files)
    if loaded.errors:
        _print_errors(loaded.errors, sys.stderr)
        return 1
    stmts, _ = compile_loaded(loaded)
    stmts = [s for s in stmts if s.kind != "aggregate"]  # windows have no NFA to explain
    if args.name:
        stmts = [s for s in stmts if s.name == args.name]
        if not stmts:
            print(f"no statement named {args.name!r}", file=sys.stderr)
            return 1
    docs = []
    for s in stmts:
        g = to_networkx(s.program)
        doc = {
            "statement": s.name,
            "kind": s.kind,
            "streams": list(s.streams),
            "partition_by": [".".join(p) for p in s.key_paths],
            "within_ms": s.within,
            "variables": [
                {"name": v.name, "stream": v.stream, "condition": v.source} for v in s.program.vars
            ],
            "states": s.program.describe(),
            "edges": [
                {"from": a, "to": b, **{k: v for k, v in d.items() if v not in (None, [])}}
                for a, b, d in g.edges(data=True)
            ],
        }
        docs.append(doc)
    if args.json:
        sys.stdout.write(
            orjson.dumps(docs if len(docs) != 1 else docs[0], option=orjson.OPT_INDENT_2).decode()
            + "\n"
        )
        return 0
    for doc in docs:
        print(
            f"{doc['kind'].upper()} {doc['statement']}  streams={','.join(doc['streams'])}"
            f"  partition_by={','.join(doc['partition_by']) or '-'}  within={doc['within_ms']}ms"
        )
        for v in doc["variables"]:
            where = f" FROM {v['stream']}" if v["stream"] else ""
            print(f"  var {v['name']}{where}: {v['condition']}")
        for st in doc["states"]:
            flag = " (start)" if st["start"] else ""
            print(f"  state {st['id']}: {st['kind']}{flag}")
        for e in doc["edges"]:
            src = START if e["from"] == START else f"s{e['from']}"
            label = e.get("var") or "ε"
            extra = f" [{e['mode']}]" if e.get("mode") not in ("strict", "epsilon") else ""
            forbid = f" forbid {','.join(e['forbid'])}" if e.get("forbid") else ""
            print(f"  {src} --{label}{extra}{forbid}--> s{e['to']}")
    return 0


def read_events(path: str, err: TextIO) -> Iterator[tuple[int, dict | None, str]]:
    """Yield (line number, event or None, error) for a JSON-lines file; bad lines are reported."""
    stream: Any = sys.stdin.buffer if path == "-" else open(path, "rb")  # noqa: SIM115
    with stream:
        for n, line in enumerate(stream, 1):
            if not line.strip():
                continue
            try:
                ev = orjson.loads(line)
            except orjson.JSONDecodeError as e:
                yield n, None, f"invalid JSON: {e}"
                continue
            if not isinstance(ev, dict):
                yield n, None, f"an event must be a JSON object, not {type(ev).__name__}"
                continue
            yield n, ev, ""


def cmd_replay(args: argparse.Namespace) -> int:
    """Backtest rules over recorded events; one JSON line per match, summary on stderr."""
    from tqdm import tqdm

    from cep.engine import Engine, Limits

    if not args.rules and not args.searches:
        print("cep replay: give --rules and/or --searches", file=sys.stderr)
        return 2
    loaded = load_rules(args.rules or [])
    if loaded.errors:
        _print_errors(loaded.errors, sys.stderr)
        return 1
    stmts, specs = compile_loaded(loaded)
    if args.searches:
        searches = load_search_files(args.searches, loaded, args.index, sys.stderr)
        if searches is None:
            return 1
        stmts.extend(searches)
    engine = Engine(
        stmts,
        specs,
        Limits(max_threads_per_key=args.max_partial_matches),
        index=make_index(args.index),
    )
    out: Any = open(args.out, "wb") if args.out else sys.stdout.buffer  # noqa: SIM115
    bad = 0
    no_stream = 0
    dumps = orjson.dumps
    try:
        progress = tqdm(
            read_events(args.events, sys.stderr),
            unit=" events",
            file=sys.stderr,
            disable=None if not args.progress else False,
            mininterval=0.5,
        )
        for line, ev, error in progress:
            if ev is None:
                bad += 1
                print(f"{args.events}:{line}: {error}", file=sys.stderr)
                continue
            stream = args.stream or ev.get(args.stream_field)
            if not isinstance(stream, str):
                no_stream += 1
                print(
                    f"{args.events}:{line}: event has no '{args.stream_field}' (use --stream)",
                    file=sys.stderr,
                )
                continue
            engine.process(ev, line - 1, stream)
            if engine.out:
                for m in engine.take():
                    out.write(dumps(m.to_dict()) + b"\n")
        engine.flush()
        for m in engine.take():
            out.write(dumps(m.to_dict()) + b"\n")
    finally:
        if args.out:
            out.close()
        else:
            out.flush()
    stats = engine.stats()
    summary = {
        "events": stats["events"],
        "bad_lines": bad,
        "events_without_stream": no_stream,
        "late_events": stats["late"],
        "events_without_time": stats["bad_time"],
        "matches": {k: v["matches"] for k, v in stats["statements"].items()},
        "limit_drops": {
            k: v["limit_drops"] for k, v in stats["statements"].items() if v["limit_drops"]
        },
    }
    print(orjson.dumps({"summary": summary}).decode(), file=sys.stderr)
    return 0


def make_index(kind: str) -> Any:
    """The statement index for `--index`: `attribute` (selective) or `plain` (reference)."""
    if kind == "plain":
        from cep.index.plain import PlainIndex

        return PlainIndex()
    from cep.index.attribute import AttributeIndex

    return AttributeIndex()


def load_search_files(paths: Sequence[str], loaded: LoadedRules, index: str, err: TextIO) -> Any:
    """JSON-lines saved searches, checked and compiled; None (errors printed) if any is bad."""
    from cep.index.searches import SearchSpec
    from cep.lang.checker import check
    from cep.lang.compiler import compile_search
    from cep.lang.search_json import read_searches

    names = {s.name: str(f) for f, _, script in loaded.scripts for s in script.statements}
    out: list[Any] = []
    bad = 0
    for path in paths:
        for line, stmt, error in read_searches(path):
            where = f"{path}:{line}"
            if stmt is not None and not error:
                problems = check(ast.Script((stmt,), where), "", streams=loaded.streams)
                if problems:
                    error = "; ".join(e.message for e in problems)
                elif stmt.name in names:
                    error = f"search {stmt.name!r} is also defined in {names[stmt.name]}"
            if error or stmt is None:
                bad += 1
                print(f"{where}: {error}", file=err)
                continue
            names[stmt.name] = where
            out.append(SearchSpec.from_ast(stmt) if index == "attribute" else compile_search(stmt))
    if bad:
        print(f"{bad} bad search line(s)", file=err)
        return None
    return out


def cmd_bench(args: argparse.Namespace) -> int:
    """Run the benchmark suite and write a JSON results file."""
    from cep.bench.run import run_bench

    return run_bench(args)


def cmd_bench_log(args: argparse.Namespace) -> int:
    """Run `cep bench log` and write its results file."""
    from cep.bench.log import bench_log

    results = bench_log(args, lambda msg: print(msg, file=sys.stderr, flush=True))
    Path(args.out).write_bytes(orjson.dumps(results, option=orjson.OPT_INDENT_2))
    print(f"results written to {args.out}", file=sys.stderr)
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    """Run the service: API + worker + webhook dispatcher (the `api` package)."""
    from api.serve import cmd_serve as serve

    return serve(args)


def cmd_demo(args: argparse.Namespace) -> int:
    """Post demo events to a running service."""
    from api.serve import cmd_demo as demo

    return demo(args)


def cmd_keys(args: argparse.Namespace) -> int:
    """Create, list or revoke API keys in the store."""
    from cep.cli_ops import _backends, _close
    from cep.keys import KeyRefused, create_key, list_keys, revoke_key

    log, store = _backends(args)
    try:
        if args.action == "create":
            try:
                token, rec = create_key(store, args.tenant, args.role, args.name)
            except KeyRefused as e:
                print(f"cep keys: {e}", file=sys.stderr)
                return 2
            print(token)
            print(
                f"key {rec['id']} for tenant {rec['tenant']} ({rec['role']}); "
                "the token is shown only now",
                file=sys.stderr,
            )
        elif args.action == "list":
            for k in list_keys(store, args.tenant):
                state = "revoked" if k["revoked_at"] else "active"
                print(f"{k['id']}  {k['tenant']:<16} {k['role']:<7} {state:<8} {k['name']}")
        else:
            if not revoke_key(store, args.id):
                print(f"cep keys: no active key {args.id!r}", file=sys.stderr)
                return 1
            print(f"revoked {args.id}")
    finally:
        _close(log, store)
    return 0


def cmd_bench_service(args: argparse.Namespace) -> int:
    """Run `cep bench service` (HTTP ingest and POST-to-webhook latency)."""
    from api.bench import bench_service

    return bench_service(args)


def _register_service(sub: Any, suites: Any) -> None:
    """`serve`, `demo`, `keys` and `bench service`."""
    from api.serve import add_arguments

    sv = sub.add_parser("serve", help="run the service: REST API, console, worker, webhooks")
    dm = sub.add_parser("demo", help="post demo payments to a running service")
    add_arguments(sv, dm)
    sv.set_defaults(func=cmd_serve)
    dm.set_defaults(func=cmd_demo)
    k = sub.add_parser("keys", help="manage API keys")
    k.add_argument("action", choices=["create", "list", "revoke"])
    k.add_argument("id", nargs="?", help="key id (revoke)")
    k.add_argument("--tenant", default=None, help="tenant (create: required; list: filter)")
    k.add_argument("--role", default="reader", choices=["reader", "writer", "admin"])
    k.add_argument("--name", default="", help="a label")
    k.add_argument(
        "--store", default=None, help="store URL (default: $CEP_STORE, else sqlite:///./cep.db)"
    )
    k.set_defaults(func=cmd_keys)
    bs = suites.add_parser("service", help="HTTP ingest and POST-to-webhook latency")
    from api.bench import add_arguments as bench_arguments

    bench_arguments(bs)
    bs.set_defaults(func=cmd_bench_service)


def cmd_bench_search(args: argparse.Namespace) -> int:
    """Run `cep bench search` and write its results file."""
    from cep.bench.search import bench_search

    results = bench_search(args, lambda msg: print(msg, file=sys.stderr, flush=True))
    Path(args.out).write_bytes(orjson.dumps(results, option=orjson.OPT_INDENT_2))
    print(f"results written to {args.out}", file=sys.stderr)
    return 0 if results.get("all_results_correct") else 1


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exposed for tests and docs)."""
    p = argparse.ArgumentParser(prog="cep", description="complex event processing rule engine")
    sub = p.add_subparsers(dest="command", required=True)

    c = sub.add_parser("check", help="compile rule files and report every error")
    c.add_argument("files", nargs="+", help="rule files or directories (*.cep)")
    c.set_defaults(func=cmd_check)

    e = sub.add_parser("explain", help="print the NFA of a statement")
    e.add_argument(
        "files",
        nargs="+",
        help="rule files or directories; the last argument may be a statement name",
    )
    e.add_argument("--name", help="statement to explain (default: all)")
    e.add_argument("--json", action="store_true", help="machine-readable output")
    e.set_defaults(func=cmd_explain)

    r = sub.add_parser("replay", help="backtest rules on recorded events (JSON lines)")
    r.add_argument("--rules", nargs="+", help="rule files or directories")
    r.add_argument(
        "--searches",
        nargs="+",
        help="JSON-lines files of saved searches (one JSON search per line)",
    )
    r.add_argument(
        "--index",
        choices=("attribute", "plain"),
        default="attribute",
        help="statement index: attribute (selective, default) or plain (every statement "
        "sees every event of its streams)",
    )
    r.add_argument("--events", required=True, help="JSON-lines file of events ('-' for stdin)")
    r.add_argument("--stream", help="stream of every event (default: each event's stream field)")
    r.add_argument("--stream-field", default="stream", help="attribute naming an event's stream")
    r.add_argument("--out", help="write matches here instead of stdout")
    r.add_argument("--max-partial-matches", type=int, default=1000, help="per key and statement")
    r.add_argument(
        "--progress",
        action="store_true",
        help="show the progress bar even when stderr is not a terminal",
    )
    r.set_defaults(func=cmd_replay)

    b = sub.add_parser("bench", help="benchmarks; results written to a JSON file")
    suites = b.add_subparsers(dest="suite", required=True)
    bp = suites.add_parser("patterns", help="pattern engine: P1, fraud mix, SEARCH compile time")
    bp.add_argument("--events", type=int, default=1_000_000, help="P1 events")
    bp.add_argument("--cards", type=int, default=100_000, help="P1 distinct cards")
    bp.add_argument("--mix-rules", type=int, default=1000, help="rules in the fraud mix")
    bp.add_argument("--mix-events", type=int, default=20_000, help="events for the fraud mix")
    bp.add_argument("--searches", type=int, default=10_000, help="SEARCH statements to compile")
    bp.add_argument("--out", default="bench-results.json", help="results file")
    bp.add_argument("--seed", type=int, default=7)
    bp.set_defaults(func=cmd_bench)
    bl = suites.add_parser("log", help="log append/read throughput and checkpoint cost per backend")
    from cep.bench.log import add_arguments as log_arguments

    log_arguments(bl)
    bl.set_defaults(func=cmd_bench_log)
    bs = suites.add_parser("search", help="attribute index: saved searches S1, rule sharing")
    from cep.bench.search import add_arguments as search_arguments

    search_arguments(bs)
    bs.set_defaults(func=cmd_bench_search)
    cli_ops.register(sub)
    _register_service(sub, suites)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `cep` console script."""
    args = build_parser().parse_args(argv)
    if (
        args.command == "explain"
        and args.name is None
        and len(args.files) > 1
        and not Path(args.files[-1]).exists()
    ):
        args.name = args.files.pop()
    try:
        return int(args.func(args))
    except FileNotFoundError as e:
        print(f"cep: {e}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    raise SystemExit(main())

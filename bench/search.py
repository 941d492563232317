"""Search benchmark: index build rate and query latency per backend vs. a naive LIKE scan.

    python -m bench.search [--messages 1000000] [--queries 200] [--es-url http://127.0.0.1:9200]

Generates chat-like Chinese messages from the simulator's phrase templates (fast: no SDK
pipeline), builds each backend's index from them, then runs one mix of 1- to 4-character
terms, phrases and filtered queries (newest first, first page plus the exact total) on
every backend (after one untimed warm-up pass of a different mix) and, in the same run,
the same terms as ``LIKE '%term%'`` scans over the same SQLite rows. Prints p50/p95 per
backend and the ratios; the last line is ``key=value`` pairs.

Backends are a list (``BACKENDS``): "embedded" always runs; "elasticsearch" runs against
``--es-url`` or ``WECOM_AUDIT_SEARCH__ES_URLS``, else on a node scripts/elasticsearch.py
starts for the run (``--no-es-start`` skips it).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import random
import statistics
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from archive.simulator import phrases
from audit.text.fold import fold_text
from search.backend import DEFAULT_TOTAL_LIMIT, SearchBackend, SearchDocument, SearchRequest, SearchScope
from search.embedded import EmbeddedBackend
from search.embedded import store as embedded_store
from search.query import And, Filter, parse_query

BATCH = 5000
START = datetime(2026, 1, 1, tzinfo=UTC)
_CATEGORIES = tuple(phrases.TEMPLATES)


def _context(rng: random.Random) -> dict[str, str]:
    surname, _ = rng.choice(phrases.SURNAMES)
    given, _ = rng.choice(phrases.GIVEN)
    name = surname + given
    return {
        "ename": name,
        "ename2": rng.choice(phrases.SURNAMES)[0] + rng.choice(phrases.GIVEN)[0],
        "ecall": f"小{surname}",
        "ccall": f"{rng.choice(phrases.SURNAMES)[0]}总",
        "cname": f"{rng.choice(phrases.SURNAMES)[0]}先生",
        "corp": "华信财富",
        "short": "华信",
        "group": rng.choice(phrases.CUSTOMER_GROUP_NAMES),
    }


def generate(count: int, seed: int = 7) -> list[SearchDocument]:
    """``count`` documents over ~1 year: 400 employees, 4,000 customers, 300 rooms."""
    rng = random.Random(seed)
    maker = phrases.TextMaker(rng)
    contexts = [_context(rng) for _ in range(64)]
    employees = [f"emp{i:04d}" for i in range(400)]
    customers = [f"wm{i:06d}" for i in range(4000)]
    rooms = [f"wr{i:04d}" for i in range(300)]
    rules = ("off_platform.wechat", "kickback", "guarantee", "pii.mobile")
    step_ms = 365 * 86_400_000 / max(count, 1)
    docs: list[SearchDocument] = []
    for index in range(count):
        try:
            text, labels = maker.make(rng.choice(_CATEGORIES), rng.choice(contexts))
        except (KeyError, IndexError, ValueError):
            text, labels = rng.choice(phrases.ADVICE), frozenset()
        employee = rng.choice(employees)
        customer = rng.choice(customers)
        room = rng.choice(rooms) if rng.random() < 0.3 else None
        sender, recipient = (employee, customer) if rng.random() < 0.5 else (customer, employee)
        hit_rules = tuple(rule for rule in rules if rng.random() < 0.01) if labels else ()
        docs.append(
            SearchDocument(
                msgid=f"msg{index:08d}",
                corp_id="wwbench",
                message_id=index + 1,
                conversation_id=hash((employee, customer)) % 100_000,
                seq=index + 1,
                msgtime=START + timedelta(milliseconds=int(index * step_ms)),
                msgtype="text" if rng.random() < 0.9 else "image",
                sender=sender,
                recipients=(recipient,),
                roomid=room,
                customer_ids=(customer,),
                staff_ids=(employee,),
                department_ids=(int(employee[3:]) % 20 + 1,),
                text=text,
                has_media=False,
                rules=hit_rules,
                categories=tuple(rule.split(".")[0] for rule in hit_rules),
                severities=("high",) if hit_rules else (),
                sentiment=None,
            )
        )
    return docs


def query_mix(docs: Sequence[SearchDocument], count: int, seed: int = 11) -> list[str]:
    """Terms cut from real texts (so they occur), by length 1-4, phrases and filtered ones."""
    rng = random.Random(seed)
    han = [doc.text for doc in docs if sum("\u4e00" <= char <= "\u9fff" for char in doc.text) >= 6]
    queries: list[str] = []
    fixed = ["微信", "返利", "理财", "保本保息", "的", "我", "产品", "收益"]
    while len(queries) < count:
        kind = len(queries) % 8
        text = rng.choice(han)
        chars = [i for i, char in enumerate(text) if "\u4e00" <= char <= "\u9fff"]
        start = rng.choice(chars)
        if kind < 4:  # 1-, 2-, 3-, 4-character terms
            term = text[start : start + kind + 1]
            if len(term) == kind + 1 and all("\u4e00" <= char <= "\u9fff" for char in term):
                queries.append(term)
        elif kind == 4:
            queries.append(rng.choice(fixed))
        elif kind == 5:
            phrase = text[start : start + 6].replace('"', "")
            if len(phrase) >= 5:
                queries.append(f'"{phrase}"')
        elif kind == 6:
            term = text[start : start + 2]
            queries.append(f"{term} from:{docs[rng.randrange(len(docs))].sender}")
        else:
            term = text[start : start + 2]
            day = START + timedelta(days=rng.randrange(300))
            queries.append(
                f"{term} after:{day.date().isoformat()} before:{(day + timedelta(days=30)).date().isoformat()}"
            )
    return queries


def percentile(values: Sequence[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def reviewer_scope(docs: Sequence[SearchDocument]) -> SearchScope:
    """A department reviewer's scope as ``search.scope`` builds it: the 20 current members of
    department 1 (of 20; about 5 % of the messages) and 50 granted conversations."""
    members = frozenset(f"emp{i:04d}" for i in range(0, 400, 20))
    granted = frozenset(doc.conversation_id for doc in docs[:: max(1, len(docs) // 50)] if doc.conversation_id)
    return SearchScope(member_ids=members, conversation_ids=granted)


@dataclass
class BackendRun:
    name: str
    build_per_s: float
    latencies_ms: list[float]
    scoped_latencies_ms: list[float]


async def _batches(docs: Sequence[SearchDocument]) -> AsyncIterator[Sequence[SearchDocument]]:
    for start in range(0, len(docs), BATCH):
        yield docs[start : start + BATCH]


async def run_backend(
    name: str,
    backend: SearchBackend,
    docs: Sequence[SearchDocument],
    queries: Sequence[str],
    warmup: Sequence[str],
    progress: Callable[[int], None],
    scope: SearchScope,
) -> BackendRun:
    started = time.perf_counter()
    await backend.reindex(_batches(docs), progress)
    build_s = time.perf_counter() - started
    # One untimed pass over a different mix of the same kinds first: production nodes are
    # warm (JIT-compiled query paths, index files in the page cache). Different queries, so
    # no cached result of a timed query exists.
    for text in warmup:
        await backend.search(SearchRequest(parse_query(text), limit=50))
    latencies: list[float] = []
    for text in queries:
        request = SearchRequest(parse_query(text), limit=50)
        began = time.perf_counter()
        await backend.search(request)
        latencies.append((time.perf_counter() - began) * 1000)
    # The same mix as a department reviewer runs it: the scope is part of every real search.
    scoped: list[float] = []
    for text in queries:
        request = SearchRequest(parse_query(text), limit=50, scope=scope)
        began = time.perf_counter()
        await backend.search(request)
        scoped.append((time.perf_counter() - began) * 1000)
    return BackendRun(name, len(docs) / build_s, latencies, scoped)


def scan_latencies(index_directory: Path, queries: Sequence[str]) -> list[float]:
    """The naive baseline over the same rows: ``LIKE '%term%'`` on the folded text, the
    first page newest-first plus the total counted up to the same limit as the backends'
    (``SearchRequest.total_limit``), so both answer the same question."""
    version = embedded_store.read_pointer(index_directory)
    assert version is not None
    connection = embedded_store.connect(embedded_store.index_file(index_directory, version))
    latencies = []
    for text in queries:
        term = text.split(" ")[0].strip('"')
        pattern = "%" + fold_text(term).replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        filters = ""
        params: list[Any] = [pattern]
        if " from:" in text:
            filters, params = " AND sender = ?", [pattern, text.split("from:")[1]]
        elif " after:" in text:
            parsed = parse_query(text)
            assert isinstance(parsed, And)
            bounds = [node.at for node in parsed.items[1:] if isinstance(node, Filter) and node.at is not None]
            filters = " AND id >= ? AND id < ?"
            params = [pattern, *(int(bound.timestamp() * 1000) << embedded_store.TIME_SHIFT for bound in bounds)]
        began = time.perf_counter()
        connection.execute(
            f"SELECT id, text FROM docs WHERE folded LIKE ? ESCAPE '\\'{filters} ORDER BY id DESC LIMIT 51", params
        ).fetchall()
        connection.execute(
            f"SELECT count(*) FROM (SELECT 1 FROM docs WHERE folded LIKE ? ESCAPE '\\'{filters} LIMIT ?)",
            [*params, DEFAULT_TOTAL_LIMIT + 1],
        ).fetchone()
        latencies.append((time.perf_counter() - began) * 1000)
    connection.close()
    return latencies


BackendFactory = Callable[[argparse.Namespace, Path], Awaitable[SearchBackend | None]]


async def _embedded(args: argparse.Namespace, workdir: Path) -> SearchBackend | None:
    return EmbeddedBackend(workdir / "embedded")


async def _elasticsearch(args: argparse.Namespace, workdir: Path) -> SearchBackend | None:
    urls = (
        [args.es_url] if args.es_url else [u for u in os.environ.get("WECOM_AUDIT_SEARCH__ES_URLS", "").split(",") if u]
    )
    if not urls and not args.no_es_start:
        urls = [_start_local_node()]
    if not urls:
        return None
    try:
        from config.settings import SearchSettings
        from search.elasticsearch.backend import ElasticsearchBackend  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        return None
    # One year of messages: year partitions (one shard) instead of 12 monthly ones;
    # measured with a warm node on 100k messages, p50/p95 9/28 ms vs 29/56 ms (ADR 0009).
    settings = SearchSettings(
        backend="elasticsearch", es_urls=urls, es_index_prefix=f"bench-{os.getpid()}", es_partition="year"
    )
    return ElasticsearchBackend(settings)  # type: ignore[no-any-return,unused-ignore]


def _start_local_node() -> str:
    """A throwaway node from scripts/elasticsearch.py, stopped (and its data removed) at exit.
    Its state lives outside the run's temporary directory, which is gone before exit."""
    import atexit
    import importlib.util
    import shutil
    import sys

    path = Path(__file__).resolve().parent.parent / "scripts" / "elasticsearch.py"
    spec = importlib.util.spec_from_file_location("wecom_audit_elasticsearch_script", path)
    assert spec is not None and spec.loader is not None
    script = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = script
    spec.loader.exec_module(script)
    state = Path(tempfile.mkdtemp(prefix="wecom-search-bench-es-"))
    node = script.Node(state)

    def stop() -> None:
        node.stop()
        shutil.rmtree(state, ignore_errors=True)

    atexit.register(stop)
    print("elasticsearch: starting a local node (scripts/elasticsearch.py) ...")
    return str(node.start(heap="1g"))


BACKENDS: list[tuple[str, BackendFactory]] = [("embedded", _embedded), ("elasticsearch", _elasticsearch)]


async def main_async(args: argparse.Namespace) -> None:
    from rich.progress import Progress, TaskID

    began = time.perf_counter()
    docs = generate(args.messages)
    # A million documents held in memory are not garbage: without this the cyclic collector
    # rescans them over and over while indexing allocates (a real reindex streams batches).
    gc.freeze()
    print(f"generated {len(docs):,} messages in {time.perf_counter() - began:.1f} s")
    queries = query_mix(docs, args.queries)
    warmup = query_mix(docs, args.queries, seed=12)
    runs: dict[str, BackendRun] = {}
    with tempfile.TemporaryDirectory(prefix="wecom-search-bench-") as tmp:
        workdir = Path(tmp)
        for name, factory in BACKENDS:
            backend = await factory(args, workdir)
            if backend is None:
                print(f"{name}: not run (no node configured)")
                continue
            with Progress() as bar:
                task = bar.add_task(f"indexing ({name})", total=len(docs))

                def advance(count: int, task: TaskID = task) -> None:
                    bar.advance(task, count)

                run = await run_backend(name, backend, docs, queries, warmup, advance, reviewer_scope(docs))
            await backend.close()
            runs[name] = run
            print(
                f"{name}: build {run.build_per_s:,.0f} msgs/s; query p50 {statistics.median(run.latencies_ms):.2f} ms,"
                f" p95 {percentile(run.latencies_ms, 0.95):.2f} ms over {len(queries)} queries;"
                f" scoped p50 {statistics.median(run.scoped_latencies_ms):.2f} ms,"
                f" p95 {percentile(run.scoped_latencies_ms, 0.95):.2f} ms"
            )
        scan = scan_latencies(workdir / "embedded", queries)
    scan_p50, scan_p95 = statistics.median(scan), percentile(scan, 0.95)
    print(f"LIKE scan: p50 {scan_p50:.2f} ms, p95 {scan_p95:.2f} ms")
    pairs = {"messages": str(len(docs)), "queries": str(len(queries))}
    pairs["scan_p50_ms"], pairs["scan_p95_ms"] = f"{scan_p50:.2f}", f"{scan_p95:.2f}"
    for name, prefix in (("embedded", "embedded"), ("elasticsearch", "es")):
        run_or_none = runs.get(name)
        if run_or_none is None:
            pairs[f"{prefix}_p50_ms"] = pairs[f"{prefix}_p95_ms"] = pairs[f"{prefix}_speedup"] = "na"
            pairs[f"{prefix}_build_per_s"] = pairs[f"{prefix}_scoped_p50_ms"] = pairs[f"{prefix}_scoped_p95_ms"] = "na"
            continue
        p50, p95 = statistics.median(run_or_none.latencies_ms), percentile(run_or_none.latencies_ms, 0.95)
        pairs[f"{prefix}_p50_ms"], pairs[f"{prefix}_p95_ms"] = f"{p50:.2f}", f"{p95:.2f}"
        pairs[f"{prefix}_speedup"] = f"{scan_p95 / p95:.1f}"
        pairs[f"{prefix}_build_per_s"] = f"{run_or_none.build_per_s:.0f}"
        scoped = run_or_none.scoped_latencies_ms
        pairs[f"{prefix}_scoped_p50_ms"] = f"{statistics.median(scoped):.2f}"
        pairs[f"{prefix}_scoped_p95_ms"] = f"{percentile(scoped, 0.95):.2f}"
        print(f"{name}: {scan_p50 / p50:.1f}x faster than the scan at p50, {scan_p95 / p95:.1f}x at p95")
    print(" ".join(f"{key}={value}" for key, value in pairs.items()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--es-url", default="")
    parser.add_argument(
        "--no-es-start", action="store_true", help="without --es-url, skip Elasticsearch instead of starting a node"
    )
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()

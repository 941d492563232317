"""Ingest benchmark: the whole pull → decrypt → parse → store path on the simulated
company (≥ 100,000 messages, SQLite), against the machine's ceiling for the one step
nobody can avoid — RSA-2048 PKCS#1 v1.5 private-key decryption, one per message, on all
cores — measured in the same run. Target: ratio ≥ 0.6.

    .venv/bin/python bench/ingest.py [--messages 100000]

The last line is key=value pairs (``ratio=`` among them) for scripts.
"""

from __future__ import annotations

import argparse
import base64
import multiprocessing
import os
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import padding
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from archive.simulator.runtime import SimulatedWeCom
from bench.edge import archive_for, serve_simulator
from config.logs import configure_logging

console = Console(stderr=True)
SEED = 2026


def _decrypt_share(pems: dict[int, bytes], work: list[tuple[int, bytes]]) -> tuple[int, float]:
    """One core's share: load the keys (not timed, as the pipeline loads them once), decrypt."""
    keys = {version: serialization.load_pem_private_key(pem, password=None) for version, pem in pems.items()}
    started = time.perf_counter()
    for version, ciphertext in work:
        keys[version].decrypt(ciphertext, padding.PKCS1v15())  # type: ignore[union-attr]
    return len(work), time.perf_counter() - started


def rsa_ceiling(simulator: SimulatedWeCom, samples: int) -> float:
    """RSA private-key decryptions per second with every core busy, one process per core
    (each with its own key objects, so nothing is shared or locked between cores)."""
    pems = {pair.version: pair.private_pem() for pair in simulator.key_pairs()}
    rows = simulator.store.chats_after(0, samples)
    work = [(row.publickey_ver, base64.b64decode(row.encrypt_random_key)) for row in rows]
    cores = os.cpu_count() or 1
    shares = [work[i::cores] for i in range(cores)]
    with ProcessPoolExecutor(cores, mp_context=multiprocessing.get_context("spawn")) as pool:
        results = list(pool.map(_decrypt_share, [pems] * cores, shares))
    return sum(count / elapsed for count, elapsed in results)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--rsa-samples", type=int, default=20_000)
    parser.add_argument("--workdir", type=Path, default=None)
    arguments = parser.parse_args()
    configure_logging("WARNING")
    workdir = arguments.workdir or Path(tempfile.mkdtemp(prefix="wecom-bench-"))
    simulator = SimulatedWeCom(workdir / "simulator", seed=SEED)
    if simulator.store.count() < arguments.messages:
        console.print(f"Simulating and encrypting {arguments.messages:,} messages (once per workdir)…")
        simulator.populate(
            arguments.messages - simulator.store.count(), messages_per_day=300_000, rotate_after=arguments.messages // 2
        )
    total = simulator.store.count()

    server = serve_simulator(workdir / "simulator", SEED)
    context = archive_for(simulator, workdir)
    puller = context.puller(simulator.corp_id)
    try:
        console.print(f"Pulling {total:,} messages through the fake SDK into SQLite…")
        started, cpu_started = time.perf_counter(), time.process_time()
        report = puller.run("bench")
        elapsed, main_cpu = time.perf_counter() - started, time.process_time() - cpu_started
    finally:
        context.close()
        server.terminate()
        server.wait()
    if report.status != "completed" or report.stored != total:
        raise SystemExit(f"pull did not complete: {report}")
    pipeline = total / elapsed

    console.print("Measuring the RSA ceiling on all cores…")
    ceiling = rsa_ceiling(simulator, min(arguments.rsa_samples, total))
    ratio = pipeline / ceiling

    table = Table(title="Ingest: pull → decrypt → parse → store (SQLite)")
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_row("messages", f"{total:,}")
    table.add_row("pipeline", f"{pipeline:,.0f} msg/s ({elapsed:.1f} s)")
    table.add_row("  parse + store CPU per message (main process)", f"{main_cpu / total * 1e6:,.0f} µs")
    table.add_row(f"RSA-2048 PKCS#1 v1.5 decrypt, {os.cpu_count()} cores", f"{ceiling:,.0f} ops/s")
    table.add_row("ratio (pipeline / RSA ceiling)", f"{ratio:.2f}  (target ≥ 0.60)")
    Console().print(table)
    print(
        f"messages={total} pipeline_msgs_per_s={pipeline:.0f} rsa_ops_per_s={ceiling:.0f} "
        f"cores={os.cpu_count()} ratio={ratio:.3f}"
    )


if __name__ == "__main__":
    main()

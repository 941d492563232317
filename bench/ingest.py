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
import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import padding
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from api.context import AppContext
from archive.simulator.fakesdk import build_fake_sdk
from archive.simulator.runtime import SimulatedWeCom
from config.logs import configure_logging
from config.settings import CorpSettings, DatabaseSettings, SdkSettings, Settings

console = Console(stderr=True)
SEED = 2026


def rsa_ceiling(simulator: SimulatedWeCom, samples: int) -> float:
    """RSA private-key decryptions per second on all cores (threads: the call drops the GIL)."""
    keys = {pair.version: pair.private_key for pair in simulator.key_pairs()}
    rows = simulator.store.chats_after(0, samples)
    work = [(keys[row.publickey_ver], base64.b64decode(row.encrypt_random_key)) for row in rows]
    for key in keys.values():  # first-use costs outside the timing, as in the pipeline
        key.decrypt(work[0][1], padding.PKCS1v15()) if key is keys[rows[0].publickey_ver] else None
    threads = os.cpu_count() or 1
    chunk = max(1, len(work) // (threads * 8))
    parts = [work[i : i + chunk] for i in range(0, len(work), chunk)]

    def decrypt_all(part: list[tuple[object, bytes]]) -> int:
        for key, ciphertext in part:
            key.decrypt(ciphertext, padding.PKCS1v15())  # type: ignore[attr-defined]
        return len(part)

    started = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        done = sum(pool.map(decrypt_all, parts))
    return done / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--rsa-samples", type=int, default=20_000)
    parser.add_argument("--workdir", type=Path, default=None)
    arguments = parser.parse_args()
    configure_logging("WARNING")
    workdir = arguments.workdir or Path(tempfile.mkdtemp(prefix="wecom-bench-"))
    library = build_fake_sdk()

    simulator = SimulatedWeCom(workdir / "simulator", seed=SEED)
    if simulator.store.count() < arguments.messages:
        console.print(f"Simulating and encrypting {arguments.messages:,} messages (once per workdir)…")
        simulator.populate(
            arguments.messages - simulator.store.count(), messages_per_day=300_000, rotate_after=arguments.messages // 2
        )
    total = simulator.store.count()

    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "archive.simulator",
            "serve",
            str(workdir / "simulator"),
            "--seed",
            str(SEED),
            "--port",
            "0",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert server.stdout is not None
    url = json.loads(server.stdout.readline())["url"]
    os.environ["WECOM_FAKE_SDK_URL"] = url

    database = workdir / "bench.db"
    database.unlink(missing_ok=True)
    settings = Settings(
        data_dir=workdir / "data",
        database=DatabaseSettings(url=f"sqlite:///{database}"),
        wecom=CorpSettings(corp_id=simulator.corp_id, archive_secret=simulator.archive_secret),
        sdk=SdkSettings(library_path=library),
    )
    context = AppContext(settings)
    context.migrate()
    for pair in simulator.key_pairs():
        context.key_store.add(simulator.corp_id, pair.version, pair.private_pem(), replace=True)
    puller = context.puller(simulator.corp_id)
    try:
        console.print(f"Pulling {total:,} messages through the fake SDK into SQLite…")
        started = time.perf_counter()
        report = puller.run("bench")
        elapsed = time.perf_counter() - started
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
    table.add_row(f"RSA-2048 PKCS#1 v1.5 decrypt, {os.cpu_count()} cores", f"{ceiling:,.0f} ops/s")
    table.add_row("ratio (pipeline / RSA ceiling)", f"{ratio:.2f}  (target ≥ 0.60)")
    Console().print(table)
    print(
        f"messages={total} pipeline_msgs_per_s={pipeline:.0f} rsa_ops_per_s={ceiling:.0f} "
        f"cores={os.cpu_count()} ratio={ratio:.3f}"
    )


if __name__ == "__main__":
    main()

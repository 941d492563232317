"""Media benchmark: the whole download → verify → store path (fake SDK over loopback, in
512 KiB chunks, md5-checked, moved into the content-addressed store) against the raw
disk write speed for the same bytes (write + fsync, file by file), in one run.
Target: ratio ≥ 0.5.

    .venv/bin/python bench/media.py [--files 120] [--mib-per-file 2]

The last line is key=value pairs (``ratio=`` among them).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from archive.sdk.native import FinanceSdkLibrary
from archive.simulator.runtime import SimulatedWeCom
from bench.edge import archive_for, serve_simulator
from config.logs import configure_logging

console = Console(stderr=True)
SEED = 2027


def make_files(simulator: SimulatedWeCom, count: int, size: int) -> list[bytes]:
    now_ms = int(time.time() * 1000)
    blobs, messages = [], []
    sender = simulator.company.employees[0].userid
    customer = simulator.company.customers[0].external_userid
    for number in range(count):
        data = os.urandom(size)
        sdkfileid = f"BENCH{number:06d}" + hashlib.sha256(data[:64]).hexdigest()
        md5 = hashlib.md5(data).hexdigest()
        simulator.store.append([], [(sdkfileid, data, md5, now_ms)])
        blobs.append(data)
        messages.append(
            {
                "msgid": f"bench_media_{number}",
                "action": "send",
                "from": sender,
                "tolist": [customer],
                "roomid": "",
                "msgtime": now_ms,
                "msgtype": "file",
                "file": {
                    "md5sum": md5,
                    "filename": f"报告{number}.bin",
                    "fileext": "bin",
                    "filesize": size,
                    "sdkfileid": sdkfileid,
                },
            }
        )
    simulator.inject(messages)
    return blobs


def raw_write_speed(blobs: list[bytes], directory: Path) -> float:
    directory.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    for number, data in enumerate(blobs):
        with (directory / f"{number}.bin").open("wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
    elapsed = time.perf_counter() - started
    return sum(map(len, blobs)) / elapsed / 1e6


def vendor_ceiling(library: Path, simulator: SimulatedWeCom, sdkfileids: list[str], threads: int) -> float:
    """The simulated WeCom + fake SDK alone (bytes fetched and dropped): the edge's own limit."""

    def fetch(sdkfileid: str) -> int:
        sdk = FinanceSdkLibrary(library)
        sdk.init(simulator.corp_id, simulator.archive_secret)
        fetched, index = 0, ""
        while True:
            rc, chunk = sdk.get_media_data(index, sdkfileid, "", "", 60)
            assert chunk is not None, rc
            fetched, index = fetched + len(chunk.data), chunk.next_index
            if chunk.is_finish:
                return fetched

    started = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        total = sum(pool.map(fetch, sdkfileids))
    return total / (time.perf_counter() - started) / 1e6


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=120)
    parser.add_argument("--mib-per-file", type=float, default=2.0)
    arguments = parser.parse_args()
    configure_logging("WARNING")
    workdir = Path(tempfile.mkdtemp(prefix="wecom-media-bench-"))
    size = int(arguments.mib_per_file * 1024 * 1024)
    simulator = SimulatedWeCom(workdir / "simulator", seed=SEED)
    console.print(f"Preparing {arguments.files} files of {arguments.mib_per_file:g} MiB on the simulated WeCom…")
    blobs = make_files(simulator, arguments.files, size)
    total_mb = sum(map(len, blobs)) / 1e6

    server = serve_simulator(workdir / "simulator", SEED)
    context = archive_for(simulator, workdir)
    try:
        assert context.puller(simulator.corp_id).run("bench").status == "completed"
        downloader = context.media_downloader(simulator.corp_id)
        console.print(f"Downloading {total_mb:,.0f} MB through the fake SDK…")
        started = time.perf_counter()
        report = downloader.run()
        elapsed = time.perf_counter() - started
        console.print("Measuring the simulated WeCom + SDK alone…")
        with simulator.store.transaction() as db:
            sdkfileids = [row[0] for row in db.execute("SELECT sdkfileid FROM media WHERE sdkfileid LIKE 'BENCH%'")]
        vendor = vendor_ceiling(
            context.settings.sdk.library_path or Path(), simulator, sdkfileids, context.settings.sdk.media_threads
        )
    finally:
        context.close()
        server.terminate()
        server.wait()
    if report.downloaded != arguments.files:
        raise SystemExit(f"download incomplete: {report}")
    pipeline = report.bytes / elapsed / 1e6
    console.print("Measuring raw disk writes of the same bytes…")
    raw = raw_write_speed(blobs, workdir / "raw")
    ratio = pipeline / raw

    table = Table(title="Media: download → verify → store")
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_row("files × size", f"{arguments.files} × {arguments.mib_per_file:g} MiB ({total_mb:,.0f} MB)")
    table.add_row("pipeline", f"{pipeline:,.0f} MB/s ({elapsed:.1f} s, {report.calls} worker calls)")
    table.add_row("raw write + fsync, same bytes", f"{raw:,.0f} MB/s")
    table.add_row("simulated WeCom + fake SDK alone (the edge's limit)", f"{vendor:,.0f} MB/s")
    table.add_row("ratio (pipeline / raw write)", f"{ratio:.2f}  (target ≥ 0.50)")
    Console().print(table)
    print(
        f"files={arguments.files} mb={total_mb:.0f} pipeline_mb_per_s={pipeline:.1f} raw_write_mb_per_s={raw:.1f} "
        f"edge_mb_per_s={vendor:.1f} ratio={ratio:.3f}"
    )


if __name__ == "__main__":
    main()

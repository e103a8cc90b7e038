"""Reads of an experiment whose commits carry the largest backups: how long the anonymous reads
behind `/stats`, `/labelers/{a}`, `/labelers/{a}/work` and `/batches/{b}/commit` take, and what
eight concurrent `/stats` do to the server's memory.

    target/py-client/bin/python bench/backup-reads.py target/release/plumbline [labelers]

`target/py-client` is the Python client's venv (`bash python/test.sh` makes it). The server runs
on a fresh SQLite file with a faucet; each labeler joins the experiment once and commits with a
backup of 4 MiB less a little (the server takes up to 4 MiB), in place of the few hundred bytes
its labels need. Writes `bench/results/backup-reads.{json,md}`.
"""

from __future__ import annotations

import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

import plumbline
import plumbline.labeler

BACKUP_BYTES = 4 * 1024 * 1024 - 4096
ROUNDS = 20
CONCURRENT = 8
OVERLAP = 10


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def timed(client: httpx.Client, path: str) -> float:
    started = time.perf_counter()
    response = client.get(path)
    response.raise_for_status()
    return time.perf_counter() - started


def main() -> None:
    binary = Path(sys.argv[1]).resolve()
    labelers = int(sys.argv[2]) if len(sys.argv) > 2 else 40
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory() as tmp:
        server = subprocess.Popen(
            [str(binary), "serve", "--db", f"{tmp}/db.sqlite", "--addr", f"127.0.0.1:{port}", "--faucet", "1000000"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            for _ in range(100):
                try:
                    httpx.get(f"{url}/api/v1/health").raise_for_status()
                    break
                except httpx.HTTPError:
                    time.sleep(0.1)
            report = measure(url, server.pid, labelers)
        finally:
            server.terminate()
            server.wait()
    report["command"] = f"target/py-client/bin/python bench/backup-reads.py {sys.argv[1]} {labelers}"
    out = Path(__file__).resolve().parent / "results"
    (out / "backup-reads.json").write_text(json.dumps(report, indent=2) + "\n")
    (out / "backup-reads.md").write_text(markdown(report))
    print(markdown(report))


def measure(url: str, pid: int, labelers: int) -> dict:
    creator = plumbline.Client(url, plumbline.new_key())
    creator.faucet()
    experiment = creator.create_experiment(
        title="Backups", kind="binary", options=["no", "yes"], block_size=4, overlap=OVERLAP,
        gold_per_batch=0, stake_per_batch=10, reward_pool=1000, commit_within="1d", reveal_within="1d",
    )
    import pandas as pd

    # One block of four tasks per OVERLAP labelers: one batch for each.
    blocks = -(-labelers // OVERLAP)
    tasks = pd.DataFrame({"prompt": [f"task {i}" for i in range(4 * blocks)]})
    experiment.import_tasks(tasks, prompt="prompt", responses=[])
    experiment.fund().open()
    # Every commit carries the largest backup the server takes.
    plumbline.labeler.seal_backup = lambda *args, **kwargs: "A" * BACKUP_BYTES  # type: ignore[assignment]
    addresses = []
    for i in range(labelers):
        labeler = creator.labeler(plumbline.new_key())
        labeler.faucet()
        batch = labeler.join(experiment)
        labeler.commit(experiment, batch, [1] * len(batch.tasks))
        addresses.append((labeler.address, batch.batch_id))
        print(f"\rcommitted {i + 1}/{labelers}", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    eid = experiment.id
    address, batch_id = addresses[0]
    reads = {
        "stats": f"/api/v1/experiments/{eid}/stats",
        "labeler": f"/api/v1/experiments/{eid}/labelers/{address}",
        "work": f"/api/v1/experiments/{eid}/labelers/{address}/work",
        "commit (its one backup)": f"/api/v1/experiments/{eid}/batches/{batch_id}/commit",
    }
    client = httpx.Client(base_url=url, timeout=60)
    latency = {}
    for name, path in reads.items():
        times = [timed(client, path) for _ in range(ROUNDS)]
        latency[name] = {"median_ms": round(statistics.median(times) * 1000, 2), "max_ms": round(max(times) * 1000, 2)}
    before = rss_mib(pid)
    peak = before
    done = threading.Event()

    def watch() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, rss_mib(pid))
            time.sleep(0.005)

    watcher = threading.Thread(target=watch)
    watcher.start()
    threads = [threading.Thread(target=lambda: [timed(httpx.Client(base_url=url, timeout=60), reads["stats"]) for _ in range(5)]) for _ in range(CONCURRENT)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    done.set()
    watcher.join()
    return {
        "labelers": labelers,
        "backup_bytes": BACKUP_BYTES,
        "stored_backups_mib": round(labelers * BACKUP_BYTES / 2**20, 1),
        "latency": latency,
        "rss_before_mib": round(before, 1),
        "rss_peak_concurrent_stats_mib": round(peak, 1),
        "concurrent_stats": CONCURRENT,
    }


def markdown(report: dict) -> str:
    lines = [
        "# Reads of an experiment with the largest commit backups",
        "",
        f"`{report.get('command', '')}`",
        "",
        f"{report['labelers']} commits, each with a {report['backup_bytes']:,}-byte backup "
        f"({report['stored_backups_mib']} MiB stored); {ROUNDS} reads of each route, one at a time:",
        "",
        "| read | median | max |",
        "|---|---:|---:|",
    ]
    for name, t in report["latency"].items():
        lines.append(f"| `{name}` | {t['median_ms']} ms | {t['max_ms']} ms |")
    lines += [
        "",
        f"Server memory (RSS): {report['rss_before_mib']} MiB before, {report['rss_peak_concurrent_stats_mib']} MiB "
        f"at most while {report['concurrent_stats']} clients read `/stats` five times each at once.",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONDONTWRITEBYTECODE", "1")
    main()

"""Fixtures: a real ``plumbline serve`` on a free port with ``--test-clock``, a fresh SQLite
database in a temporary folder, a faucet, an operator and a sealing key. No mocks: every test
talks HTTP to the binary.

The binary is ``$PLUMBLINE_BIN`` (relative paths from the working directory or the repository
root), else ``../target/release/plumbline``, else ``../target/debug/plumbline`` from
``python/``.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Optional

import pytest

import plumbline

PYTHON_DIR = Path(__file__).resolve().parent.parent
REPO = PYTHON_DIR.parent
FAUCET = 1_000_000


def plumbline_bin() -> Path:
    """The binary the tests run."""
    named = os.environ.get("PLUMBLINE_BIN")
    if named:
        for candidate in (Path(named), REPO / named):
            if candidate.is_file():
                return candidate.resolve()
        raise RuntimeError(f"PLUMBLINE_BIN={named!r} is not a file (looked from {os.getcwd()} and {REPO})")
    for candidate in (REPO / "target/release/plumbline", REPO / "target/debug/plumbline"):
        if candidate.is_file():
            return candidate
    raise RuntimeError("no plumbline binary: build it (cargo build -p plumbline) or set PLUMBLINE_BIN")


@dataclass
class Server:
    """A running server: its URL, its log, its operator's key, and its test clock."""

    url: str
    process: subprocess.Popen[bytes]
    folder: Path
    log: Path
    operator_key: str
    now: int = 0
    clients: list[plumbline.Client] = field(default_factory=list)

    def set_clock(self, now: int) -> int:
        with plumbline.Client(self.url, None) as client:
            self.now = client.set_clock(now)
        return self.now

    def advance(self, seconds: int) -> int:
        """Moves the server's clock forward."""
        return self.set_clock(self.now + seconds)

    def client(self, key: Optional[str] = None) -> plumbline.Client:
        """A client with a fresh key (or ``key``) holding the faucet's credits."""
        client = plumbline.Client(self.url, key or plumbline.new_key())
        client.faucet()
        self.clients.append(client)
        return client

    def labeler(self, key: Optional[str] = None) -> plumbline.Labeler:
        labeler = plumbline.Labeler(self.url, key or plumbline.new_key())
        labeler.faucet()
        self.clients.append(labeler)
        return labeler

    def log_text(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")


def start_server(folder: Path, *args: str, name: str = "plumbline") -> tuple[subprocess.Popen[bytes], str, Path]:
    """Starts ``plumbline serve`` on a free port and answers it once it listens."""
    folder.mkdir(parents=True, exist_ok=True)
    log = folder / f"{name}.log"
    command = [str(plumbline_bin()), "serve", "--db", str(folder / f"{name}.sqlite"), "--addr", "127.0.0.1:0", *args]
    with open(log, "wb") as sink:
        process = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT, env={**os.environ, "RUST_LOG": "info"})
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        text = log.read_text(encoding="utf-8", errors="replace")
        found = re.search(r"listening url=(http://\S+)/api/v1", text)
        if found:
            return process, found.group(1), log
        if process.poll() is not None:
            raise RuntimeError(f"plumbline serve exited with {process.returncode}:\n{text}")
        time.sleep(0.05)
    process.kill()
    raise RuntimeError(f"plumbline serve did not start listening in 30 s:\n{log.read_text()}")


def stop_server(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    folder = tmp_path_factory.mktemp("server")
    operator = plumbline.write_key_file(folder / "operator.json")
    process, url, log = start_server(
        folder,
        "--test-clock",
        "--faucet",
        str(FAUCET),
        "--operator",
        operator.address,
        "--sealing-key",
        str(folder / "operator.json"),
    )
    running = Server(url, process, folder, log, "0x" + bytes(operator.key).hex())
    # The test clock starts at the server's start and moves only when told.
    running.set_clock(int(time.time()) + 1)
    try:
        yield running
    finally:
        for client in running.clients:
            client.close()
        stop_server(process)


@pytest.fixture
def creator(server: Server) -> plumbline.Client:
    """A new account with the faucet's credits."""
    return server.client()

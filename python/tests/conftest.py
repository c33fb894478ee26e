"""A real `granary up` (built dist/, free loopback ports, a temporary directory) for the tests.

The cluster runs 5 storage nodes with RS 3+2 and no sample table; the session writes one table,
`pyt`, of two partitions with every scalar and list type and nulls, through `granary ingest`.
"""

from __future__ import annotations

import json
import os
import random
import re
import signal
import socket
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional

import pytest

REPO = Path(__file__).resolve().parents[2]
GRANARY = REPO / "dist" / "bin" / "granary.js"
NODES = 5
# `granary up` puts storage nodes at port + 31.. and its other children on offsets below that.
PORT_OFFSETS = list(range(0, 31 + NODES))
READY_DEADLINE_S = 180
PARTITIONS = ["ds=2026-11-01", "ds=2026-11-02"]
ROWS_PER_PARTITION = 2500
STRIPE_ROWS = 500


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def _free_base_port() -> int:
    for _ in range(200):
        # Below Linux's ephemeral range, so no outgoing connection takes one meanwhile.
        base = random.randrange(20000, 32000 - 64)
        if all(_port_free(base + offset) for offset in PORT_OFFSETS):
            return base
    raise RuntimeError("no free range of ports for granary up")


def table_rows(partition_index: int) -> List[Dict[str, object]]:
    """The rows written to one partition; every column but id has nulls at its own period."""
    rows = []
    for i in range(ROWS_PER_PARTITION):
        n = partition_index * ROWS_PER_PARTITION + i
        rows.append(
            {
                "id": n,
                "label": None if n % 11 == 0 else float(n % 2),
                "score": None if n % 13 == 0 else n / 7.0,
                "count": None if n % 17 == 0 else (n * 7919) % 100000 - 50000,
                "big": None if n % 19 == 0 else n * 1_000_000_007,
                "flag": None if n % 23 == 0 else n % 3 == 0,
                "name": None if n % 29 == 0 else f"name-{n}-\u00e9",
                "ids": None if n % 31 == 0 else [n, n + 1, n * 2][: n % 4],
                "weights": None if n % 37 == 0 else [n / 4.0, -n / 8.0][: n % 3],
                "tags": None if n % 41 == 0 else [f"t{n % 5}", f"u{n % 7}"][: n % 3],
            }
        )
    return rows


SCHEMA = {
    "columns": [
        {"name": "id", "type": "int64"},
        {"name": "label", "type": "float"},
        {"name": "score", "type": "double"},
        {"name": "count", "type": "int32"},
        {"name": "big", "type": "int64"},
        {"name": "flag", "type": "bool"},
        {"name": "name", "type": "string"},
        {"name": "ids", "type": "id_list"},
        {"name": "weights", "type": "float_list"},
        {"name": "tags", "type": "string_list"},
    ],
    "ec": "3+2",
    "stripeRows": STRIPE_ROWS,
}


@dataclass
class Cluster:
    root: Path
    metadata_url: str
    gateway_url: str
    token_file: Path
    process: subprocess.Popen
    output: List[str] = field(default_factory=list)

    @property
    def token(self) -> str:
        return self.token_file.read_text().strip()

    def granary(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        """Runs the CLI against this cluster; output as bytes (read --format arrow is binary)."""
        result = subprocess.run(
            ["node", str(GRANARY), *args, "--metadata", self.metadata_url, "--token-file", str(self.token_file)],
            cwd=self.root,
            capture_output=True,
            timeout=300,
        )
        if check and result.returncode != 0:
            raise AssertionError(f"granary {' '.join(args)} exited {result.returncode}: {result.stderr.decode(errors='replace')}")
        return result


def _start(root: Path) -> Cluster:
    if not GRANARY.exists():
        raise RuntimeError(f"{GRANARY} is missing: run npm run build first")
    port = _free_base_port()
    process = subprocess.Popen(
        ["node", str(GRANARY), "up", "--data", str(root / "data"), "--port", str(port), "--nodes", str(NODES), "--ec", "3+2", "--no-sample"],
        cwd=root,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=False,
    )
    output: List[str] = []
    ready = threading.Event()

    def drain() -> None:
        # Keeps reading after ready, so a chatty child never blocks on a full pipe.
        assert process.stdout is not None
        for line in process.stdout:
            output.append(line.rstrip("\n"))
            if line.startswith("cluster ready") or "cluster ready:" in line:
                ready.set()
        ready.set()

    threading.Thread(target=drain, daemon=True).start()
    if not ready.wait(READY_DEADLINE_S) or process.poll() is not None:
        _stop(process)
        raise RuntimeError("granary up did not become ready:\n" + "\n".join(output[-40:]))
    text = "\n".join(output)
    gateway = re.search(r"gateway\S*:?\s+(https?://[0-9.:]+)", text)
    if gateway is None:
        _stop(process)
        raise RuntimeError("granary up printed no gateway URL:\n" + text)
    return Cluster(root, f"http://127.0.0.1:{port}", gateway.group(1), root / "data" / "admin.token", process, output)


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=30)


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("granary-up")
    started = _start(root)
    try:
        schema = root / "pyt.schema.json"
        schema.write_text(json.dumps(SCHEMA))
        started.granary("table", "create", "pyt", "--schema", str(schema))
        for index, partition in enumerate(PARTITIONS):
            rows = root / f"pyt-{index}.jsonl"
            rows.write_text("".join(json.dumps(row) + "\n" for row in table_rows(index)))
            started.granary("ingest", "pyt", str(rows), "--partition", partition)
        yield started
    finally:
        _stop(started.process)


def all_rows() -> List[Dict[str, object]]:
    return [row for index in range(len(PARTITIONS)) for row in table_rows(index)]


def wait_until(what: str, check, deadline_s: float = 30.0):
    """Polls `check` until it returns a truthy value, or fails naming `what`."""
    end = time.monotonic() + deadline_s
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > end:
            raise AssertionError(f"timed out after {deadline_s} s waiting for {what}")
        time.sleep(0.05)

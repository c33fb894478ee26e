"""A stream cut after its first batch raises GranaryStreamError: it never passes for a whole scan.

The gateway breaks the connection without the chunked body's last chunk when a scan fails after
its first batch. These tests play that gateway with a socket server, so they need no cluster and
cut the stream exactly where they mean to: inside a batch, and right after the end-of-stream
marker (where pyarrow alone would see a complete stream).
"""

from __future__ import annotations

import socket
import threading
from typing import Iterator

import pyarrow as pa
import pyarrow.ipc
import pytest

import granary

BATCH = pa.record_batch({"id": pa.array(range(1000), pa.int64()), "name": pa.array([f"row-{i}" for i in range(1000)])})


def arrow_stream(batches: int) -> bytes:
    sink = pa.BufferOutputStream()
    with pyarrow.ipc.new_stream(sink, BATCH.schema) as writer:
        for _ in range(batches):
            writer.write_batch(BATCH)
    return sink.getvalue().to_pybytes()


def chunk(data: bytes) -> bytes:
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


class CuttingGateway:
    """Answers one POST with a chunked Arrow stream of `body`, then closes without the last chunk."""

    def __init__(self, body: bytes) -> None:
        self.body = body
        self.server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.server.bind(("127.0.0.1", 0))
        self.server.listen(1)
        self.url = f"http://127.0.0.1:{self.server.getsockname()[1]}"
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        connection, _ = self.server.accept()
        with connection:
            request = b""
            while b"\r\n\r\n" not in request:
                request += connection.recv(65536)
            head, _, rest = request.partition(b"\r\n\r\n")
            length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length"))
            while len(rest) < length:
                rest += connection.recv(65536)
            connection.sendall(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/vnd.apache.arrow.stream\r\nTransfer-Encoding: chunked\r\n\r\n" + chunk(self.body)
            )

    def close(self) -> None:
        self.thread.join(timeout=30)
        self.server.close()


@pytest.fixture
def cut_at() -> Iterator[callable]:
    gateways = []

    def start(body: bytes) -> CuttingGateway:
        gateway = CuttingGateway(body)
        gateways.append(gateway)
        return gateway

    yield start
    for gateway in gateways:
        gateway.close()


def test_a_stream_cut_inside_a_batch_raises_after_the_whole_batches(cut_at):
    whole = arrow_stream(3)
    gateway = cut_at(whole[: len(whole) * 2 // 3])
    got = []
    with pytest.raises(granary.GranaryStreamError) as caught:
        for batch in granary.scan(gateway.url, "t", token="t"):
            got.append(batch)
    assert caught.value.code == "GRN_STREAM_BROKEN"
    assert 1 <= len(got) < 3
    assert all(batch.equals(BATCH) for batch in got)


def test_a_stream_cut_after_its_end_marker_still_raises(cut_at):
    # pyarrow sees a complete stream here; only the missing last chunk tells it was cut.
    gateway = cut_at(arrow_stream(2))
    with pytest.raises(granary.GranaryStreamError):
        list(granary.scan(gateway.url, "t", token="t"))

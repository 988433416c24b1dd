"""Slow and stalled clients are dropped, and a worker holds a bounded number of connections.

A real two-worker gateway with ``--read-timeout 0.5`` and ``--max-connections 40``: connections that send
their headers a byte at a time, that send headers and then a body a byte at a time (with a valid token),
that open and say nothing, and more connections than the workers take. Within the deadlines every one of
them is closed by the gateway, and a student's ordinary request is answered meanwhile.
"""

from __future__ import annotations

import contextlib
import socket
import time
from typing import Any

import httpx

from .conftest import Gateway, Stub, bearer, body

GENERATIONS = "/v1/images/generations"


def _open(port: int, first: bytes) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    if first:
        sock.sendall(first)
    sock.setblocking(False)
    return sock


def _closed(sock: socket.socket) -> bool:
    """Whether the gateway closed this connection (an answer before the close is read and dropped)."""
    try:
        while True:
            data = sock.recv(65536)
            if not data:
                return True
    except BlockingIOError:
        return False
    except OSError:
        return True


def _trickle(sock: socket.socket, byte: bytes) -> None:
    with contextlib.suppress(OSError):
        sock.send(byte)


def test_slow_headers_slow_bodies_and_idle_connections_are_dropped(stub: Stub, start_gateway: Any) -> None:
    gw: Gateway = start_gateway(
        "--upstream", stub.root, "--workers", "2", "--read-timeout", "0.5", "--max-connections", "40"
    )
    token = gw.add("patient", images=5)
    port = gw.port
    head = f"POST {GENERATIONS} HTTP/1.1\r\nHost: 127.0.0.1\r\n".encode()
    slow_headers = [_open(port, head + b"X-Slow: ") for _ in range(20)]
    body_head = (
        f"POST {GENERATIONS} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n"
        "Content-Type: application/json\r\nContent-Length: 5000\r\n\r\n{"
    ).encode()
    slow_bodies = [_open(port, body_head) for _ in range(2)]  # the student's own lanes: 2 per worker
    idle = [_open(port, b"") for _ in range(10)]
    crowd = [_open(port, b"") for _ in range(80)]  # past 2 x 40: the newest are closed at once
    started = time.monotonic()
    time.sleep(0.3)
    assert sum(_closed(s) for s in crowd) >= 20, "connections past --max-connections were not closed"
    every = slow_headers + slow_bodies + idle + crowd
    try:
        deadline = started + 3.0  # headers: 0.5 s; a body: 3 x 0.5 s; both after the connection opened
        while time.monotonic() < deadline and not all(_closed(s) for s in every):
            for sock in slow_headers:
                _trickle(sock, b"x")  # a byte now and then: never silent, never done
            for sock in slow_bodies:
                _trickle(sock, b" ")
            time.sleep(0.25)
        still_open = [s for s in every if not _closed(s)]
        assert not still_open, (
            f"{len(still_open)} slow connections still open after {deadline - started:.1f} s"
        )
        answer = httpx.post(f"{gw.root}{GENERATIONS}", json=body(3), headers=bearer(token), timeout=10)
        assert answer.status_code == 200, answer.text  # an ordinary request is served as before
    finally:
        for sock in every:
            sock.close()


def test_a_body_that_stalls_is_answered_408_and_closed(stub: Stub, start_gateway: Any) -> None:
    gw: Gateway = start_gateway("--upstream", stub.root, "--read-timeout", "0.5")
    token = gw.add("stalling", images=5)
    with socket.create_connection(("127.0.0.1", gw.port), timeout=5) as sock:
        sock.sendall(
            f"POST {GENERATIONS} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n"
            'Content-Type: application/json\r\nContent-Length: 200\r\n\r\n{"prompt": '.encode()
        )
        started = time.monotonic()
        answer = b""
        while not answer.endswith(b"}") and time.monotonic() - started < 5:
            chunk = sock.recv(65536)
            if not chunk:
                break
            answer += chunk
        took = time.monotonic() - started
    text = answer.decode("latin-1")
    assert text.startswith("HTTP/1.1 408") and "connection: close" in text.lower(), text
    assert "did not arrive in time" in text and took < 2.0

"""``together-magic serve`` as users run it: its flags, its warnings, and what it answers over real HTTP."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable

import httpx
import pytest

from together_magic.cli import main
from together_magic.models import MODELS
from together_magic.offline.backend import DEFAULT_RATE_LIMIT, MAX_BODY_BYTES

from ..conftest import MODEL, Server

pytestmark = pytest.mark.server
BODY = {"prompt": "a fox", "model": MODEL, "width": 256, "height": 256}


@pytest.mark.parametrize(
    ("flags", "named"),
    [
        (["--rate-limit", "-1"], "--rate-limit"),
        (["--rate-limit", "0"], "--rate-limit"),
        (["--rate-limit", "1.5"], "--rate-limit"),
        (["--rate-limit", "lots"], "--rate-limit"),
        (["--latency", "-1"], "--latency"),
        (["--latency", "nan"], "--latency"),
        (["--latency", "inf"], "--latency"),
        (["--fail-rate", "2"], "--fail-rate"),
        (["--fail-rate", "nan"], "--fail-rate"),
        (["--slow-seconds", "-3"], "--slow-seconds"),
        (["--faults", "meltdown"], "--faults"),
        (["--faults", ","], "--faults"),
        (["--port", "0"], "--port"),
        (["--port", "70000"], "--port"),
        (["--port", "http"], "--port"),
        (["--require-key", ""], "--require-key"),
        (["--require-key", " spaced "], "--require-key"),
        (["--fault-seed", "x"], "--fault-seed"),
        (["--log-level", "loud"], "--log-level"),
    ],
)
def test_nonsense_flags_are_one_usage_line_and_exit_2(
    flags: list[str], named: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as info:
        main(["serve", *flags])
    out, err = capsys.readouterr()
    assert info.value.code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and named in err and "Traceback" not in err, err


def run_serve_process(*flags: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "together_magic", "serve", *flags],
        capture_output=True,
        text=True,
        timeout=30,
        env={**os.environ, **(env or {})},
    )


def test_a_real_process_refuses_a_bad_flag_or_key_in_one_line() -> None:
    bad = run_serve_process("--rate-limit", "-1")
    assert bad.returncode == 2 and bad.stdout == ""
    assert bad.stderr.strip().splitlines() == [
        "together-magic serve: error: argument --rate-limit: must be a whole number of requests per minute, "
        "1 or more, got -1 (see --help)"
    ]
    spaced = run_serve_process(env={"TOGETHER_MAGIC_REQUIRE_KEY": " k "})
    assert spaced.returncode == 2 and len(spaced.stderr.strip().splitlines()) == 1
    assert "TOGETHER_MAGIC_REQUIRE_KEY" in spaced.stderr and " k " not in spaced.stderr


def test_a_host_others_can_reach_without_a_key_warns_once() -> None:
    # 192.0.2.1 (TEST-NET-1) is never this machine's: the bind fails right after the warning, so nothing is
    # ever exposed while the warning is checked.
    exposed = run_serve_process("--host", "192.0.2.1", "--port", "8765")
    warnings = [line for line in exposed.stderr.splitlines() if "warning" in line]
    assert warnings == [
        "together-magic serve: warning: --host 192.0.2.1 can be reached from other machines and no "
        "--require-key is set: anyone who reaches this port can use it"
    ]
    assert exposed.returncode != 0 and "Traceback" not in exposed.stderr
    keyed = run_serve_process("--host", "192.0.2.1", "--port", "8765", "--require-key", "k")
    assert "warning" not in keyed.stderr and "Traceback" not in keyed.stderr


@pytest.mark.parametrize("host", ["", "   ", "[::1", "no such host!"])
def test_a_host_that_cannot_be_bound_is_one_usage_line(host: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--host", host, "--port", "8765"]) == 2  # refused before anything is bound
    out, err = capsys.readouterr()
    assert out == "" and len(err.strip().splitlines()) == 1 and "argument --host: cannot use" in err


def test_a_port_in_use_is_one_line_and_nothing_announced() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = run_serve_process("--port", str(taken.getsockname()[1]))
    assert busy.returncode == 1 and busy.stdout == "", busy.stdout
    assert len(busy.stderr.strip().splitlines()) == 1 and "cannot listen on 127.0.0.1:" in busy.stderr


def test_start_up_line_gives_the_bare_host_and_loopback_is_quiet(server: Server) -> None:
    log = server.log.read_text()
    assert f"export TOGETHER_BASE_URL=http://127.0.0.1:{server.port}\n" in log
    assert f"they post to http://127.0.0.1:{server.port}/images/generations, also answered here" in log
    assert f"http://127.0.0.1:{server.port}/v1 suits every one of them too" in log  # SDK 3's /v1/v1 too
    assert f"rate limit: {DEFAULT_RATE_LIMIT} requests per minute" in log
    assert "warning" not in log.lower()


@pytest.mark.parametrize("prefix", ["", "/v1"])
def test_both_base_url_forms_are_answered(server: Server, prefix: str) -> None:
    """The TypeScript SDK, SDK 1.x and curl post to BASE/images/generations; the Python SDK 3 adds /v1
    (so given a BASE ending in /v1 it posts to /v1/v1/images/generations, answered too)."""
    body = {"prompt": "a fox", "model": MODEL, "width": 256, "height": 256, "response_format": "base64"}
    made = httpx.post(f"http://127.0.0.1:{server.port}{prefix}/images/generations", json=body, timeout=30)
    assert made.status_code == 200 and made.json()["data"][0]["type"] == "b64_json"
    listed = httpx.get(f"http://127.0.0.1:{server.port}{prefix}/models", timeout=30)
    assert listed.status_code == 200 and any(m["id"] == MODEL for m in listed.json())
    doubled = httpx.post(f"http://127.0.0.1:{server.port}/v1/v1/images/generations", json=body, timeout=30)
    assert doubled.status_code == 200 and doubled.json()["data"][0]["type"] == "b64_json"


@pytest.mark.parametrize("kind", ["500", "503", "504", "408", "409", "429"])
def test_times_n_recovers_for_clients_that_send_no_retry_count(server: Server, kind: str) -> None:
    """SDK 1.x, curl and requests send no retry-count header: the server counts their requests instead."""
    url = f"http://127.0.0.1:{server.port}/v1/images/generations"
    body = {"prompt": "a fox", "model": MODEL, "width": 256, "height": 256, "response_format": "base64"}
    header = {"x-together-magic-fault": f"{kind};times=2;tag={kind}-{server.port}"}
    statuses = [httpx.post(url, json=body, headers=header, timeout=30).status_code for _ in range(4)]
    assert statuses == [int(kind), int(kind), 200, 200]
    answer = httpx.post(url, json=body, headers={"x-together-magic-fault": kind}, timeout=30)
    error = answer.json()["error"]
    expected = {"429": "dynamic_request_limited", "503": "service_unavailable", "504": "timeout"}
    assert error["type"] == expected.get(kind, error["type"]) and error["message"]


def raw_request(
    port: int, head: bytes, body: bytes = b"", wait: float = 10.0
) -> tuple[int, dict[str, str], bytes]:
    """Send bytes as they are and read one response (status, headers, body)."""
    with socket.create_connection(("127.0.0.1", port), timeout=wait) as sock:
        sock.sendall(head + body)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
        top, _, rest = data.partition(b"\r\n\r\n")
        lines = top.decode("latin-1").split("\r\n")
        headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
        length = 0 if head.startswith(b"HEAD ") else int(headers.get("content-length", "0"))
        while len(rest) < length:
            chunk = sock.recv(65536)
            if not chunk:
                break
            rest += chunk
    return int(lines[0].split()[1]), headers, rest


def post_head(port: int, extra: str = "", length: int | None = None) -> bytes:
    size = f"Content-Length: {length}\r\n" if length is not None else "Transfer-Encoding: chunked\r\n"
    return (
        f"POST /v1/images/generations HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Content-Type: application/json\r\n{size}{extra}\r\n"
    ).encode()


def test_oversized_body_is_413_by_content_length_before_it_is_sent(server: Server) -> None:
    started = time.perf_counter()
    status, headers, body = raw_request(server.port, post_head(server.port, length=400_000_000))
    assert status == 413 and time.perf_counter() - started < 2
    assert json.loads(body)["error"]["code"] == "request_too_large" and headers["x-ratelimit-limit"]


def test_no_key_is_401_before_the_body_is_read(start_server: Callable[..., Server]) -> None:
    srv = start_server("--require-key", "secret-key")
    status, headers, body = raw_request(srv.port, post_head(srv.port, length=400_000_000))
    assert status == 401 and json.loads(body)["error"]["code"] == "invalid_api_key"
    assert headers["x-ratelimit-remaining"] == str(DEFAULT_RATE_LIMIT)


def test_a_client_uploading_a_huge_body_reads_the_answer_at_once(start_server: Callable[..., Server]) -> None:
    srv = start_server("--require-key", "k")
    url = f"{srv.base_url}/images/generations"
    huge = b" " * (128 * 2**20)
    started = time.perf_counter()
    refused = httpx.post(url, content=huge, timeout=30)
    too_big = httpx.post(url, content=huge, timeout=30, headers={"Authorization": "Bearer k"})
    elapsed = time.perf_counter() - started
    assert (refused.status_code, too_big.status_code) == (401, 413)
    assert refused.headers["connection"] == "close"  # the server does not swallow 128 MB to keep it alive
    assert elapsed < 4, elapsed


def test_a_chunked_body_growing_past_the_limit_is_413(server: Server) -> None:
    piece = b" " * 2**20
    chunk = f"{len(piece):x}\r\n".encode() + piece + b"\r\n"
    count = MAX_BODY_BYTES // len(piece) + 1
    status, _, body = raw_request(server.port, post_head(server.port), chunk * count, wait=30)
    assert status == 413 and json.loads(body)["error"]["code"] == "request_too_large"


def test_rate_limit_headers_over_http(start_server: Callable[..., Server]) -> None:
    srv = start_server("--rate-limit", "2")
    url = f"{srv.base_url}/images/generations"
    replies = [httpx.post(url, json=BODY, timeout=10) for _ in range(3)]
    assert [r.status_code for r in replies] == [200, 200, 429]
    assert [r.headers["x-ratelimit-remaining"] for r in replies] == ["1", "0", "0"]
    assert all(r.headers["x-ratelimit-limit"] == "2" and r.headers["x-request-id"] for r in replies)
    assert 1 <= int(replies[2].headers["retry-after"]) == int(replies[2].headers["x-ratelimit-reset"]) <= 60


def test_models_are_listed(server: Server) -> None:
    listed = httpx.get(f"{server.base_url}/models", timeout=10).json()
    assert {m["id"] for m in listed} == {s.id for s in MODELS.values() if s.listed}  # retired: not listed


POST = b"POST /v1/images/generations HTTP/1.1\r\n"
TAIL = b"Content-Length: 2\r\n\r\n{}"


@pytest.mark.parametrize(
    "head",
    [
        POST + b"Host: x\r\nX-Odd: \xff\xfe\x80\x01\r\n" + TAIL,
        POST + b"Host: x\r\nX-Big: " + b"a" * 60_000 + b"\r\n" + TAIL,
        b"POST /v1/images/%ff%fe%00 HTTP/1.1\r\nHost: x\r\n" + TAIL,
        b"BREW /v1/images/generations HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
        b"HEAD /v1/images/generations HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET /shrt/..%2f..%2fetc%2fpasswd HTTP/1.1\r\nHost: x\r\n\r\n",
        POST + b"Host: \xff<'\">\r\n" + TAIL,
        POST + b"Host: x\r\nAuthorization: Bearer \xff\xfe\r\n" + TAIL,
        POST
        + b"Host: x\r\nx-together-magic-fault: \xff;times=;=;;\r\nx-stainless-retry-count: -1\r\n"
        + TAIL,
        b"POST /v1/images/generations HTTP/1.0\r\n" + TAIL,
    ],
)
def test_odd_http_is_never_a_5xx(server: Server, head: bytes) -> None:
    status, _, _ = raw_request(server.port, head, wait=10)
    assert status < 500
    assert httpx.get(f"http://127.0.0.1:{server.port}/", timeout=5).status_code == 200

"""``together-magic class ...`` and ``serve --upstream`` flags: one line and the right exit code when wrong,
the token shown once and stored only as a digest, safe defaults when the gateway starts.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
import socket
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from together_magic.cli import main
from together_magic.gateway.roster import Roster, parse_expiry
from together_magic.gateway.settings import GatewaySettings, default_data_dir
from together_magic.offline.server import _listen, _resolve

from ..conftest import Server, free_port
from .conftest import SENTINEL, Gateway


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    try:
        code = main(list(argv))
    except SystemExit as exc:  # argparse's own errors
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def test_add_list_revoke_teacher(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = str(tmp_path / "class")
    code, out, err = run(capsys, "class", "add", "Ada Lovelace", "--images", "7", "--budget", "0.5",
                         "--expires", "2999-12-31", "--data", data)  # fmt: skip
    assert (code, err) == (0, "")
    token = out.split("(shown only now): ")[1].split()[0]
    assert token.startswith("class-") and len(token) > 30
    assert "7 images, $0.50, until 3000-01-01 00:00" in out
    # Stored as a digest only: the token itself is nowhere in the database files.
    files = b"".join(p.read_bytes() for p in Path(data).iterdir() if p.is_file())
    assert token.encode() not in files
    with sqlite3.connect(Path(data) / "store.sqlite3") as conn:
        (digest,) = conn.execute("SELECT token_sha256 FROM gateway_students").fetchone()
    assert digest == hashlib.sha256(token.encode()).hexdigest()

    code, _, err = run(capsys, "class", "add", "Ada Lovelace", "--data", data)
    assert code == 2 and err.count("\n") == 1 and "already in the class" in err
    run(capsys, "class", "add", "Bo", "--data", data)
    code, out, _ = run(capsys, "class", "list", "--data", data)
    lines = out.splitlines()
    assert code == 0 and lines[0].split()[:3] == ["name", "images", "dollars"]
    assert "0 of 7" in lines[1] and "$0.00 of $0.50" in lines[1] and lines[1].endswith("active")
    assert "0 of 20" in lines[2]  # the default quota

    code, out, _ = run(capsys, "class", "revoke", "Bo", "--data", data)
    assert code == 0 and "revoked Bo" in out
    code, _, err = run(capsys, "class", "revoke", "Bo", "--data", data)
    assert code == 1 and "no active student named 'Bo'" in err
    assert run(capsys, "class", "list", "--data", data)[1].splitlines()[2].endswith("revoked")
    code, out, _ = run(capsys, "class", "add", "Bo", "--data", data)  # a new token for the same name
    assert code == 0 and Roster(data).student(out.split("(shown only now): ")[1].split()[0]).name == "Bo"

    code, out, _ = run(capsys, "class", "teacher", "--data", data)
    first = out.split(": ")[1].split()[0]
    second = run(capsys, "class", "teacher", "--data", data)[1].split(": ")[1].split()[0]
    roster = Roster(data)
    assert first.startswith("teacher-") and not roster.is_teacher(first) and roster.is_teacher(second)


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["class", "add", "x", "--images", "-1"], "--images: must be from 0"),
        (["class", "add", "x", "--budget", "nan"], "--budget: must be dollars"),
        (["class", "add", "x", "--expires", "next week"], "--expires: 'next week' is not a date"),
        (["class", "add", "x", "--expires", "2001-01-01"], "--expires: 2001-01-01 is already past"),
        (["class", "add", "x", "--expires", "9999-12-31"], "--expires: 9999-12-31 is too far"),
        (["class", "add", "x", "--expires", "2026-02-30"], "--expires: '2026-02-30' is not a date"),
        (["class", "add", " ", "--images", "1"], "NAME: give 1 to 40 printable characters"),
        (["class", "add", "a\tb"], "NAME: give 1 to 40"),
        (["class", "add"], "NAME: give a student's name, or --roster FILE"),
        (["class"], "the following arguments are required"),
        (["serve", "--upstream", "ftp://host"], "--upstream: 'ftp://host' is not an http(s) URL"),
        (["serve", "--upstream", "http://u:p@host"], "without user:password@"),
        (["serve", "--upstream", "offline", "--latency", "1"], "--latency: only for the offline server"),
        (["serve", "--upstream", "offline", "--rate-limit", "5"], "use --upstream-rate"),
        (["serve", "--workers", "2"], "--workers: only with --upstream"),
        (["serve", "--fallback", "offline"], "--fallback: only with --upstream"),
        (["serve", "--upstream", "offline", "--workers", "0"], "--workers: must be from 1 to 64"),
        (["serve", "--upstream", "offline", "--fallback", "cloud"], "invalid choice: 'cloud'"),
        (["serve", "--upstream", "offline", "--upstream-rate", "0"], "--upstream-rate: must be from 1"),
        (["serve", "--upstream", "offline", "--class-budget", "-3"], "--class-budget: must be dollars"),
        (["serve", "--upstream", "offline", "--ssl-keyfile", "k.pem"], "give both, or neither"),
        (
            ["serve", "--upstream", "offline", "--ssl-keyfile", "/nope/k", "--ssl-certfile", "/nope/c"],
            "cannot use",
        ),
        (
            ["serve", "--upstream", "https://api.together.xyz"],
            "needs the teacher's key: export TOGETHER_API_KEY",
        ),
    ],
)
def test_mistakes_are_one_line(
    argv: list[str], fragment: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(
        capsys, *argv, *(["--data", str(tmp_path)] if argv[0] == "class" and len(argv) > 1 else [])
    )
    assert code == 2, (out, err)
    assert out == "" and err.count("\n") == 1 and fragment in err, err
    assert "Traceback" not in err


def test_the_listening_socket_is_tcp_so_answers_are_not_held_back() -> None:
    """asyncio sets TCP_NODELAY only on sockets made as IPPROTO_TCP; without it every answer on a kept-alive
    connection waited ~40 ms for the client's delayed ACK (measured: 60 ms -> 12 ms per 256x256 request)."""
    family, address = _resolve("127.0.0.1", free_port())
    sock = _listen(family, address)
    try:
        assert sock.proto == socket.IPPROTO_TCP
    finally:
        sock.close()


def test_settings_travel_without_the_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOGETHER_API_KEY", SENTINEL)
    settings = GatewaySettings(upstream="http://127.0.0.1:9/", data=tmp_path, fallback="offline")
    assert settings.upstream == "http://127.0.0.1:9" and SENTINEL not in settings.to_json()
    assert GatewaySettings.from_json(settings.to_json()) == settings
    assert default_data_dir().parts[-2:] == ("together-magic", "gateway")


def test_wildcard_host_without_tls_warns_once(upstream: Server, start_gateway: Any) -> None:
    gw: Gateway = start_gateway("--upstream", upstream.base_url, "--host", "0.0.0.0")
    lines = gw.log.read_text().splitlines()
    warnings = [line for line in lines if "warning" in line]
    assert warnings == [
        "together-magic serve: warning: --host 0.0.0.0 without --ssl-certfile: class tokens cross the "
        "network unencrypted"
    ]
    assert any(line.startswith(f"serving on http://127.0.0.1:{gw.port} ") for line in lines)
    (told,) = [line for line in lines if line.startswith("students: export TOGETHER_BASE_URL=")]
    where = told.removeprefix("students: export TOGETHER_BASE_URL=http://").split()[0].rpartition(":")[0]
    try:  # students sit at other machines: this one's network address, or else its name
        ip = ipaddress.ip_address(where)
        assert not (ip.is_loopback or ip.is_unspecified), told
    except ValueError:
        assert where == socket.gethostname(), told


def test_loopback_by_default_and_silent(upstream: Server, start_gateway: Any) -> None:
    gw: Gateway = start_gateway("--upstream", upstream.base_url)
    text = gw.log.read_text()
    assert f"serving on http://127.0.0.1:{gw.port} " in text and "warning" not in text


@pytest.mark.parametrize("form", ["20301123", "2030-W47-6", "2030W476", " 2030-11-23 "])
def test_every_iso_date_form_lasts_to_the_end_of_that_day(form: str) -> None:
    end = dt.datetime(2030, 11, 24).astimezone().timestamp()  # local midnight after 2030-11-23
    assert parse_expiry("2030-11-23") == end
    assert parse_expiry(form) == end  # not its first minute: "20301123" once meant 2030-11-23 00:00
    assert parse_expiry("2030-11-23T12:00") < end  # a time, when given, is taken as it is

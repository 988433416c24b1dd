"""A class gateway with the README's self-signed certificate, and what a student sets to trust it.

A real TLS gateway (uvicorn with ``--ssl-certfile``) on 127.0.0.1 with a certificate made now by openssl:
without the CA file every client fails in one line that names the setting (and is not retried); with
``%config Imagine.ca_file``, ``TOGETHER_MAGIC_CA_FILE``, ``Together(ca_file=)`` or httpx's own
``SSL_CERT_FILE`` the same requests work.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from together_magic import Together
from together_magic.cli import main
from together_magic.errors import APIConnectionError, explain

from ..conftest import MODEL, Server
from ..kernel import Kernel
from .conftest import Gateway, self_signed

CELL = "%%imagine --seed 4 --size 256x256 -o pic\na fox behind TLS"


@pytest.fixture(scope="module")
def tls(upstream: Server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Gateway, Path]]:
    folder = tmp_path_factory.mktemp("tls")
    key, cert = self_signed(folder)
    gw = Gateway(folder / "class", ["--upstream", upstream.base_url, "--ssl-keyfile", str(key),
                                    "--ssl-certfile", str(cert)])  # fmt: skip
    yield gw, cert
    gw.stop()


def generate(client: Together) -> int:
    made = client.images.generate(prompt="a fox", model=MODEL, seed=1, width=256, height=256)
    return len(made.image_bytes()[0])


def test_a_student_in_a_notebook_sets_imagine_ca_file(tls: tuple[Gateway, Path], tmp_path: Path) -> None:
    gw, cert = tls
    token = gw.add("notebook-student", images=None)
    kernel = Kernel(tmp_path)
    try:
        kernel.ok(f"import os\nos.environ.update(TOGETHER_BASE_URL={gw.root!r}, TOGETHER_API_KEY={token!r})")
        kernel.ok("%load_ext together_magic")
        refused = kernel.run(CELL)
        (error,) = refused.of_type("error")
        (line,) = error["content"]["traceback"]  # one line, no traceback
        assert "[CERTIFICATE_VERIFY_FAILED] self-signed certificate" in line, line
        assert "%config Imagine.ca_file = 'cert.pem'" in line and "TOGETHER_MAGIC_CA_FILE" in line

        bad = kernel.run("%config Imagine.ca_file = 'no-such-cert.pem'")
        # %config says a refused value in one line (as for every Imagine setting) and keeps the old one
        assert "Imagine.ca_file must be a certificate file (PEM) that exists" in bad.text
        assert bad.text.count("\n") == 1 and "Traceback" not in bad.text
        kernel.ok(f"%config Imagine.ca_file = {str(cert)!r}")
        made = kernel.ok(CELL)
        assert any(o["msg_type"] == "display_data" for o in made.outputs), made.outputs
        assert kernel.ok("print(len(pic.data), pic.provenance.backend)").text.split() == ["1", "gateway"]
    finally:
        kernel.stop()


def test_the_cli_and_python_clients_take_the_ca_file(
    tls: tuple[Gateway, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    gw, cert = tls
    token = gw.add("cli-student", images=None)
    monkeypatch.setenv("TOGETHER_BASE_URL", gw.root)
    monkeypatch.setenv("TOGETHER_API_KEY", token)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    argv = ["generate", "--seed", "2", "--size", "256x256", "--save", str(tmp_path / "out"), "a fox"]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "export TOGETHER_MAGIC_CA_FILE=cert.pem" in err, err
    monkeypatch.setenv("TOGETHER_MAGIC_CA_FILE", str(cert))
    assert main(argv) == 0 and len(list((tmp_path / "out").glob("*.jpg"))) == 1
    monkeypatch.delenv("TOGETHER_MAGIC_CA_FILE")

    started = time.perf_counter()
    with Together(max_retries=2) as untrusted, pytest.raises(APIConnectionError) as caught:
        generate(untrusted)
    assert time.perf_counter() - started < 1.0  # not retried (two retries would wait 2.25 s at least)
    assert caught.value.certificate == "self-signed certificate"
    assert "Together(ca_file='cert.pem')" in str(explain(caught.value, "python"))
    with Together(ca_file=cert) as client:
        assert generate(client) > 1000
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # httpx's own variable works as well
    with Together() as client:
        assert generate(client) > 1000


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (None, "no such file"),
        (b"not a certificate\n", "not a PEM certificate file"),
        ("dir", "Is a directory"),
    ],
)
def test_a_ca_file_that_cannot_be_used_is_one_line(
    content: bytes | str | None, reason: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "cert.pem"
    if content == "dir":
        path.mkdir()
    elif isinstance(content, bytes):
        path.write_bytes(content)
    for given, setting in ((path, "ca_file"), (None, "TOGETHER_MAGIC_CA_FILE")):
        monkeypatch.setenv("TOGETHER_MAGIC_CA_FILE", str(path))
        with pytest.raises(APIConnectionError) as caught:
            Together(base_url="https://127.0.0.1:9", ca_file=given)
        assert str(caught.value) == (
            f"{setting}: cannot trust {str(path)!r} ({reason}); give the PEM file of the server's "
            "certificate (a class gateway's cert.pem, from your teacher)"
        )


def test_a_certificate_for_another_address_says_so(
    upstream: Server, start_gateway: Any, tmp_path: Path
) -> None:
    key, cert = self_signed(tmp_path, name="DNS:gateway.example")
    gw: Gateway = start_gateway("--upstream", upstream.base_url, "--ssl-keyfile", str(key),
                                "--ssl-certfile", str(cert))  # fmt: skip
    client = Together(base_url=gw.root, api_key=gw.add("elsewhere"), ca_file=cert)
    with client, pytest.raises(APIConnectionError) as caught:
        generate(client)
    assert "mismatch, certificate is not valid for '127.0.0.1'" in str(caught.value)
    assert "subjectAltName=IP:<address>" in str(explain(caught.value, "notebook"))

"""Every error answer, whatever its body, becomes one typed, one-line, key-free exception."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output

from together_magic import errors as e

from .conftest import Server


def body(message: str, type_: str | None = None, code: str | None = None, param: str | None = None) -> bytes:
    return json.dumps(
        {"id": "req-1", "error": {"message": message, "type": type_, "param": param, "code": code}}
    ).encode()


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, e.BadRequestError),
        (401, e.AuthenticationError),
        (402, e.PaymentRequiredError),
        (403, e.PermissionDeniedError),
        (404, e.NotFoundError),
        (409, e.ConflictError),
        (422, e.UnprocessableEntityError),
        (429, e.RateLimitError),
        (500, e.InternalServerError),
        (503, e.InternalServerError),
        (529, e.InternalServerError),
        (418, e.APIStatusError),
    ],
)
def test_status_classes(status: int, cls: type[e.APIStatusError]) -> None:
    err = e.status_error_from_response(status, body("boom", "some_type"), request_id="rid")
    assert type(err) is cls and err.status_code == status
    assert isinstance(err, e.APIError) and isinstance(err, e.TogetherError)


def test_one_line_with_all_fields() -> None:
    err = e.status_error_from_response(
        429,
        body("Request was rejected due to request rate limiting.\nTry later.", "rate_limit"),
        request_id="abc",
    )
    assert (
        str(err)
        == "429 rate_limit: Request was rejected due to request rate limiting. Try later. (request id abc)"
    )
    assert (err.type, err.code, err.param, err.request_id) == ("rate_limit", None, None, "abc")
    assert err._render_traceback_() == [f"RateLimitError: {err}"]


def test_request_id_falls_back_to_the_body_id() -> None:
    err = e.status_error_from_response(400, body("bad", "invalid_request_error", param="n"), request_id=None)
    assert err.request_id == "req-1" and err.param == "n"


@pytest.mark.parametrize(
    ("content", "ctype", "expected"),
    [
        (b"<html><body>502 Bad Gateway</body></html>", "text/html", "HTML error page"),
        (b"upstream connect error", "text/plain", "upstream connect error"),
        (b"", "", "HTTP 503 with an empty body"),
        (b'{"message": "no error key"}', "application/json", "no error key"),
        (b'{"error": "just a string"}', "application/json", "just a string"),
        (b"[1, 2]", "application/json", "[1, 2]"),
    ],
)
def test_odd_bodies(content: bytes, ctype: str, expected: str) -> None:
    err = e.status_error_from_response(503, content, request_id=None, content_type=ctype)
    assert expected in str(err)
    assert "\n" not in str(err)


def test_key_echoed_by_a_server_is_scrubbed() -> None:
    key = "sk-sentinel-0123456789"
    err = e.status_error_from_response(
        401, body(f"Invalid API key {key} provided"), request_id=None, api_key=key
    )
    assert key not in str(err) and key not in repr(err) and key not in str(err.body)
    assert "***" in str(err)


def test_long_messages_are_cut() -> None:
    err = e.status_error_from_response(500, body("x" * 5000), request_id=None)
    assert len(str(err)) < 400


VISIT = "Please visit https://api.together.ai/models to view the list of supported models."


VISIT = "Please visit https://api.together.ai/models to view the list of supported models."
CLOUD_UNKNOWN_MODEL = [
    (404, f"Unable to access model FLUX.2-de. {VISIT}", "model_not_available"),
    (404, "The model `FLUX.2-de` does not exist", "model_not_found"),
    (400, f"Unable to access non-serverless model FLUX.2-de. {VISIT}", "model_not_available"),
]


@pytest.mark.parametrize(("status", "message", "code"), CLOUD_UNKNOWN_MODEL)
def test_unknown_model_hints_for_every_cloud_wording(status: int, message: str, code: str) -> None:
    body = {"error": {"message": message, "type": "invalid_request_error", "code": code}}
    err = e.status_error_from_response(status, json.dumps(body).encode(), request_id="r")
    text = str(e.explain(err, "notebook"))
    assert "did you mean black-forest-labs/FLUX.2-dev?" in text and "\n" not in text
    assert "together_magic.list_models() shows them all" in text


@pytest.mark.parametrize(
    ("model_id", "hint"),
    [
        # the cloud's 404 for a model it no longer serves: the catalogue says why and what to use instead
        ("black-forest-labs/FLUX.1-schnell", "is retired: Together no longer lists it (as of 2026-10-07)"),
        ("google/imagen-4.0-ultra", "use google/gemini-3-pro-image instead"),
        # a typo of a retired id: the guess, and that it is retired
        ("black-forest-labs/FLUX.1-schnel",
         "did you mean black-forest-labs/FLUX.1-schnell, which is retired: use black-forest-labs/FLUX.2-dev"),
    ],
)  # fmt: skip
def test_a_retired_model_on_the_cloud_names_its_replacement(model_id: str, hint: str) -> None:
    body = {
        "error": {"message": f"Unable to access model {model_id}. {VISIT}", "code": "model_not_available"}
    }
    err = e.status_error_from_response(404, json.dumps(body).encode(), request_id="r")
    text = str(e.explain(err, "notebook"))
    assert hint in text and "\n" not in text


# -- timeouts: which one fired, and the knob that helps (issue 10.11), through the magic and the CLI ---------
@pytest.fixture
def unanswered_port() -> Iterator[int]:
    """A port on 127.0.0.1 that never completes a connection: a listener whose accept queue is full."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = int(listener.getsockname()[1])
    fillers = []
    for _ in range(4):  # fill the (never accepted) queue; later SYNs are dropped, so connect() hangs
        filler = socket.socket()
        filler.setblocking(False)
        filler.connect_ex(("127.0.0.1", port))
        fillers.append(filler)
    time.sleep(0.2)
    yield port
    for filler in fillers:
        filler.close()
    listener.close()


def magic_says(env: dict[str, str], timeout: float, monkeypatch: pytest.MonkeyPatch) -> str:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    shell = InteractiveShell.instance()
    shell.run_line_magic("load_ext", "together_magic")
    try:
        shell.run_line_magic("config", f"Imagine.timeout = {timeout}")
        shell.run_line_magic("config", "Imagine.max_retries = 0")
        shell.run_line_magic("config", "Imagine.cache = False")
        with capture_output() as captured:
            result = shell.run_cell("%%imagine -s 1 --size 256x256\na fox", store_history=False)
    finally:
        shell.run_line_magic("unload_ext", "together_magic")
        shell.config.pop("Imagine", None)
    shown = (captured.stdout + captured.stderr).strip()
    assert not result.success and "Traceback" not in shown and len(shown.splitlines()) == 1, shown
    return shown


def cli_says(env: dict[str, str], timeout: float, tmp_path: Path) -> str:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("TOGETHER")}
    environment.update({"XDG_CACHE_HOME": str(tmp_path), **env})
    args = ["generate", "a fox", "-s", "1", "--size", "256x256", "--timeout", str(timeout), "--no-cache"]
    run = subprocess.run(
        [sys.executable, "-m", "together_magic", *args],
        capture_output=True,
        text=True,
        env=environment,
        cwd=tmp_path,
        timeout=60,
    )
    assert run.returncode == 1 and len(run.stderr.strip().splitlines()) == 1, run.stderr
    return run.stderr.strip()


def test_a_connect_timeout_names_connect_and_points_at_the_address(
    unanswered_port: int, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    env = {"TOGETHER_BASE_URL": f"http://127.0.0.1:{unanswered_port}", "TOGETHER_API_KEY": "k-timeout"}
    for shown in (magic_says(env, 0.4, monkeypatch), cli_says(env, 0.4, tmp_path)):
        assert "0.4 s connect timeout" in shown, shown
        assert shown.count("TOGETHER_BASE_URL") == 1, shown  # the right knob, said once
        assert "Imagine.timeout" not in shown and "--timeout" not in shown, shown  # raising it cannot help


def test_a_read_timeout_names_read_and_the_knob_that_helps(
    start_server: Callable[..., Server], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    srv = start_server("--latency", "2")
    env = {"TOGETHER_BASE_URL": srv.base_url}
    shown = magic_says(env, 0.4, monkeypatch)
    assert "0.4 s read timeout" in shown and shown.count("%config Imagine.timeout = 120") == 1, shown
    shown = cli_says(env, 0.4, tmp_path)
    assert "0.4 s read timeout" in shown and shown.count("--timeout 120") == 1, shown

"""The upstream key never leaves the gateway: a scan of every answer, page, log, database file and image.

Three gateways hold the sentinel key: one in front of the real upstream (successes, the cache, URLs,
refusals, the wall, the official SDK), one whose upstream refuses the key (the error path, where a careless
message would quote it), one whose upstream is down, with the offline fallback. Controls placed on purpose
(a prompt, the teacher token, the JPEG marker) are found by the same scan, so a scan that reads nothing
cannot pass.
"""

from __future__ import annotations

import base64
import os
import secrets
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import together

from ..conftest import MODEL, Server, free_port
from .conftest import SENTINEL, Gateway, bearer, body

CONTROL = f"control-{secrets.token_hex(6)}"


class Scan:
    """Everything the outside world got from (or could read of) the gateways, by kind."""

    def __init__(self) -> None:
        self.kinds: dict[str, list[tuple[str, bytes]]] = {}

    def add(self, kind: str, where: str, data: bytes) -> None:
        self.kinds.setdefault(kind, []).append((where, data))

    def response(self, where: str, response: httpx.Response) -> httpx.Response:
        head = "\n".join(f"{k}: {v}" for k, v in response.headers.items()).encode()
        self.add("responses", where, head + b"\n" + response.content)
        if response.headers.get("content-type", "").startswith("application/json"):
            payload = response.json()
            for item in payload.get("data", []) if isinstance(payload, dict) else []:
                if item.get("b64_json"):
                    self.add("images", f"{where} (base64 image)", base64.b64decode(item["b64_json"]))
        elif response.headers.get("content-type", "").startswith("image/"):
            self.add("images", where, response.content)
        return response

    def files(self, kind: str, folder: Path) -> None:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                self.add(kind if path.parent.name != "images" else "images", str(path), path.read_bytes())

    def found(self, needle: bytes) -> dict[str, list[str]]:
        return {
            kind: [where for where, data in items if needle in data] for kind, items in self.kinds.items()
        }


def _cli(scan: Scan, data: Path, *args: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOGETHER")}
    env["TOGETHER_API_KEY"] = SENTINEL  # the teacher's shell has the key set: the CLI must not echo it
    run = subprocess.run(
        [sys.executable, "-m", "together_magic", "class", *args, "--data", str(data)],
        env=env, capture_output=True, timeout=60,
    )  # fmt: skip
    scan.add("logs", f"class {' '.join(args)}", run.stdout + run.stderr)
    assert run.returncode == 0, run.stderr
    return run.stdout.decode()


def _exercise(scan: Scan, gw: Gateway, *, cli: bool) -> None:
    """Every kind of answer the gateway gives; ``cli``: manage the class with the CLI (else in-process)."""
    teacher = gw.teacher_token()
    if cli:
        token = _cli(scan, gw.data, "add", "ada", "--images", "3").split("TOGETHER_API_KEY=")[1].split()[0]
        assert "ada" in _cli(scan, gw.data, "list")
    else:
        token = gw.add("ada", images=3)
    revoked = gw.add("bo", images=0)

    def call(where: str, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return scan.response(where, httpx.request(method, f"{gw.root}{path}", timeout=30, **kwargs))

    gen = "/v1/images/generations"
    call("b64", "POST", gen, json=body(1, prompt=f"a fox {CONTROL}"), headers=bearer(token))
    call("hit", "POST", gen, json=body(1, prompt=f"a fox {CONTROL}"), headers=bearer(token))
    made = call("url", "POST", gen, json=body(2, response_format="url"), headers=bearer(token))
    if made.status_code == 200:
        scan.response("url image", httpx.get(made.json()["data"][0]["url"], timeout=10))
    assert gw.roster.revoke("bo")
    call("revoked", "POST", gen, json=body(3), headers=bearer(revoked))
    call("unknown token", "POST", gen, json=body(3), headers=bearer(token[:-2]))
    call("no token", "POST", gen, json=body(3))
    call("bad json", "POST", gen, content=b"{", headers=bearer(token))
    call("models", "GET", "/v1/models")
    call("root", "GET", "/")
    call("wall login", "GET", f"/class?token={teacher}")
    wall = bearer(teacher)
    call("wall", "GET", "/class", headers={"cookie": f"together_magic_teacher={teacher}"})
    call("wall js", "GET", "/class/wall.js")
    entries = call("wall api", "GET", "/class/api/wall?hidden=1", headers=wall).json()["entries"]
    for entry in entries:
        for position in range(entry["images"]):
            call("wall image", "GET", f"/class/image/{entry['id']}/{position}", headers=wall)
    if entries:
        call("hide", "POST", "/class/api/hide", json={"id": entries[0]["id"], "hidden": True}, headers=wall)
    sdk = together.Together(api_key=token, base_url=gw.root, max_retries=0)
    try:
        for seed in (4, 5):  # the second is one image too many (3 of 3), where the upstream answers at all
            try:
                made = sdk.images.generate(
                    prompt="sdk", model=MODEL, width=256, height=256, seed=seed, response_format="base64"
                )
                scan.add("images", "sdk", base64.b64decode(made.data[0].b64_json))
            except together.APIStatusError as exc:
                scan.add("responses", "sdk error", str(exc).encode())
    finally:
        sdk.close()


def test_the_upstream_key_appears_nowhere(upstream: Server, start_server: Any, start_gateway: Any) -> None:
    scan = Scan()
    refusing = start_server("--require-key", "sk-some-other-account")
    gateways: list[Gateway] = [
        start_gateway("--upstream", upstream.base_url, "--workers", "2"),
        start_gateway("--upstream", refusing.base_url),
        start_gateway("--upstream", f"http://127.0.0.1:{free_port()}", "--fallback", "offline"),
    ]
    for number, gw in enumerate(gateways):
        _exercise(scan, gw, cli=number == 0)
    for gw in gateways:
        gw.stop()
        scan.add("logs", str(gw.log), gw.log.read_bytes())
        scan.files("database", gw.data)

    # The scan reads what it claims to read: controls put there on purpose are found in each kind.
    controls = scan.found(CONTROL.encode())
    assert controls["responses"] and controls["database"], controls
    assert all(scan.found(gw.teacher_token().encode())["logs"] for gw in gateways)
    images = scan.found(b"JFIF")["images"]
    assert len(images) >= 10 and any("/images/" in where for where in images), images
    assert any("upstream failed" in data.decode(errors="replace") for _, data in scan.kinds["logs"])
    # The sentinel: zero times, anywhere.
    leaks = {kind: where for kind, where in scan.found(SENTINEL.encode()).items() if where}
    assert not leaks, leaks
    assert sum(len(items) for items in scan.kinds.values()) > 60

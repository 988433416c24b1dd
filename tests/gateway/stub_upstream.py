"""A stub image service for the gateway's tests: records every body it is sent, answers as it is told.

Run as ``python -m tests.gateway.stub_upstream PORT KEY`` (uvicorn, one process, 127.0.0.1). It answers
``POST /v1/images/generations`` with real JPEGs in Together's shape, only to ``Authorization: Bearer KEY``.
What it does next is set with ``POST /_stub/mode`` (JSON): ``status`` (answer this error status instead),
``drop`` (close the connection without an answer), ``images`` (answer this many images, whatever ``n``
says), ``latency`` (seconds before answering); a request's prompt may carry its own (``stub:status=500``,
``stub:drop``), so several kinds can run at once. ``GET /_stub/calls`` lists every attempt (its body, the
time, whether the key was right) and the most requests it ever worked on at once; ``POST /_stub/reset``
clears both and the mode.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import sys
import time
from typing import Any

_state: dict[str, Any] = {"mode": {}, "calls": [], "open": 0, "peak": 0}


def _jpeg(width: int, height: int, seed: int) -> bytes:
    from PIL import Image

    size = (max(8, min(int(width), 512)), max(8, min(int(height), 512)))
    colour = (seed * 37 % 256, seed * 91 % 256, seed * 53 % 256)
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, "JPEG", quality=80)
    return out.getvalue()


async def _body(receive: Any) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


async def _send_json(send: Any, status: int, payload: Any) -> None:
    data = json.dumps(payload).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": data})


async def app(scope: Any, receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] != "http":
        return
    path, method = scope["path"], scope["method"]
    raw = await _body(receive)
    if path == "/_stub/mode" and method == "POST":
        _state["mode"] = json.loads(raw)
        return await _send_json(send, 200, _state["mode"])
    if path == "/_stub/reset" and method == "POST":
        _state.update(mode={}, calls=[], peak=0)
        return await _send_json(send, 200, {})
    if path == "/_stub/calls":
        return await _send_json(send, 200, {"calls": _state["calls"], "peak": _state["peak"]})
    if path == "/":
        return await _send_json(send, 200, {"service": "stub"})
    if path != "/v1/images/generations" or method != "POST":
        return await _send_json(send, 404, {"error": {"message": "no such endpoint"}})
    headers = dict(scope["headers"])
    keyed = headers.get(b"authorization", b"") == f"Bearer {KEY}".encode()
    try:
        body = json.loads(raw)
    except ValueError:
        body = {"unparsed": raw[:200].decode("latin-1")}
    _state["calls"].append({"at": time.time(), "body": body, "keyed": keyed})
    if not keyed:
        return await _send_json(send, 401, {"error": {"message": "Invalid API key provided."}})
    mode = dict(_state["mode"])
    for word in str(body.get("prompt", "")).split():  # a request can carry its own: "stub:status=500"
        if word.startswith("stub:"):
            name, _, value = word.removeprefix("stub:").partition("=")
            mode[name] = value or True
    _state["open"] += 1
    _state["peak"] = max(_state["peak"], _state["open"])
    try:
        await asyncio.sleep(float(mode.get("latency", 0)))
        if mode.get("drop"):  # half an answer, then the connection closes (uvicorn drops it on the error)
            start = [(b"content-type", b"application/json"), (b"content-length", b"1000")]
            await send({"type": "http.response.start", "status": 200, "headers": start})
            await send({"type": "http.response.body", "body": b'{"data": [', "more_body": True})
            raise ConnectionAbortedError("the stub drops this connection")
        if mode.get("status"):
            error = {"message": f"stub refuses with {mode['status']}", "type": "invalid_request_error"}
            return await _send_json(send, int(mode["status"]), {"error": error})
        count = int(mode.get("images", body.get("n") or 1))
        seed = int(body.get("seed") or 0)
        data = [
            {
                "index": i,
                "type": "b64_json",
                "b64_json": base64.b64encode(
                    _jpeg(body.get("width") or 64, body.get("height") or 64, seed + i)
                ).decode(),
            }
            for i in range(count)
        ]
        payload = {"id": f"stub-{len(_state['calls'])}", "model": body.get("model"), "object": "list"}
        await _send_json(send, 200, {**payload, "data": data})
    finally:
        _state["open"] -= 1


KEY = ""

if __name__ == "__main__":
    import uvicorn

    KEY = sys.argv[2]
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning", lifespan="on")

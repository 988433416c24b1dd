"""A server whose cost is constant: every POST gets the same pre-encoded 1024x1024 image response.

    python -m benchmarks.fixed_server PORT [LATENCY_SECONDS]

It isolates the client's own overhead: no rendering, no validation, one fixed body.
"""

from __future__ import annotations

import asyncio
import base64
import json
import sys
from typing import Any

from together_magic.offline.renderer import RenderSpec, encode, render


def payload() -> bytes:
    spec = RenderSpec(
        prompt="a red fox in a snowy forest",
        model="m",
        width=1024,
        height=1024,
        steps=4,
        default_steps=4,
        seed=1,
    )
    image = base64.b64encode(encode(render(spec), "jpeg")).decode()
    body = {
        "id": "fixed-0000",
        "model": "black-forest-labs/FLUX.2-dev",
        "object": "list",
        "data": [{"index": 0, "b64_json": image, "timings": {"inference": 0.1}}],
    }
    return json.dumps(body).encode()


def make_app(latency: float) -> Any:
    body = payload()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"x-request-id", b"fixed-0000"),
    ]

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        while (await receive()).get("more_body"):
            pass
        if latency:
            await asyncio.sleep(latency)
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    return app


if __name__ == "__main__":
    import uvicorn

    port = int(sys.argv[1])
    latency = float(sys.argv[2]) if len(sys.argv) > 2 else 0.0
    uvicorn.run(
        make_app(latency), host="127.0.0.1", port=port, log_level="warning", lifespan="off", backlog=1024
    )

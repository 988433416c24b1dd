"""The offline backend over real HTTP, logging every generation request it answers (for the resume test).

    python -m tests.reliability.batch_counting_server PORT LOG [LATENCY]

Each answered POST appends one JSON line ``{"prompt", "seed", "status"}`` to LOG once the whole answer has
been handed to the connection, so a test can count, per item, how often it was asked for and answered.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import uvicorn

from together_magic.offline.app import create_app
from together_magic.offline.backend import BackendOptions, OfflineBackend


def counting(app: Any, log_path: str) -> Any:
    log = open(log_path, "a", buffering=1)  # noqa: SIM115  (open for the server's lifetime)

    async def wrapped(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await app(scope, receive, send)
            return
        body = bytearray()
        status: dict[str, int] = {}

        async def receive_body() -> Any:
            message = await receive()
            body.extend(message.get("body", b""))
            return message

        async def send_logged(message: Any) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)
            if message["type"] == "http.response.body" and not message.get("more_body"):
                try:
                    request = json.loads(body)
                except ValueError:
                    request = {}
                seen = {k: request.get(k) for k in ("prompt", "seed")}
                log.write(json.dumps({**seen, "status": status.get("code")}) + "\n")

        await app(scope, receive_body, send_logged)

    return wrapped


def main() -> None:
    port, log_path = int(sys.argv[1]), sys.argv[2]
    latency = float(sys.argv[3]) if len(sys.argv) > 3 else 0.0
    app = counting(create_app(OfflineBackend(BackendOptions(latency=latency))), log_path)
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")


if __name__ == "__main__":
    main()

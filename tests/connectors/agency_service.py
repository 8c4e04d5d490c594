"""A small reference agency service: a household register behind an HTTP JSON API of its
own design, as a city's system might offer it. Tests run it on a loopback socket with
uvicorn in a thread and answer it through an HTTP connector."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

KEY_HEADER = "X-Agency-Key"


class AgencyService:
    """People by national ID, in the agency's own JSON shape; knobs for the tests."""

    def __init__(self, people: Mapping[str, dict[str, Any]], key: str) -> None:
        self.people = dict(people)
        self.key = key
        self.delay = 0.0
        self.down = False
        self.asked: list[dict[str, str]] = []
        self.app = Starlette(
            routes=[
                Route("/api/v2/people/{idn}", self.person),
                Route("/api/v2/people/{idn}/status", self.status),
                Route("/api/v2/extract", self.extract),
                Route("/api/v2/sample", self.sample),
            ]
        )

    async def _guard(self, request: Request) -> JSONResponse | None:
        if request.headers.get(KEY_HEADER) != self.key:
            return JSONResponse({"error": "unauthorised"}, status_code=401)
        if self.down:
            return JSONResponse({"error": "maintenance"}, status_code=503,
                                headers={"Retry-After": "17"})  # fmt: skip
        if self.delay:
            await asyncio.sleep(self.delay)
        return None

    async def person(self, request: Request) -> JSONResponse:
        refused = await self._guard(request)
        if refused is not None:
            return refused
        found = self.people.get(request.path_params["idn"])
        if found is None:
            return JSONResponse({"error": "no such person"}, status_code=404)
        return JSONResponse({"result": {"person": found}})

    async def status(self, request: Request) -> JSONResponse:
        refused = await self._guard(request)
        if refused is not None:
            return refused
        self.asked.append(dict(request.query_params))
        found = self.people.get(request.path_params["idn"])
        if found is None:
            return JSONResponse({"error": "no such person"}, status_code=404)
        return JSONResponse({"status": {"county": found["addr"]["county"], "died": found["died"]}})

    async def extract(self, request: Request) -> JSONResponse:
        refused = await self._guard(request)
        return refused or JSONResponse({"extracted": "1150630"})

    async def sample(self, request: Request) -> JSONResponse:
        refused = await self._guard(request)
        return refused or JSONResponse(sorted(self.people))


@contextmanager
def serve(service: AgencyService) -> Iterator[str]:
    """Run ``service`` on 127.0.0.1 (a free port) in a thread; yields its base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(service.app, log_level="warning", lifespan="off", access_log=False)
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the reference agency service did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()

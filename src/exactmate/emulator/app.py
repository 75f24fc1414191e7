"""The emulator as an ASGI application: a thin Starlette adapter over ``Emulator.handle``.

The adapter reads the request (stopping at the 10 MB body limit), runs the framework-free pipeline and
sends the answer. A request that may wait (latency, a ``slow`` fault, a webhook subscription probing
its callback: ``Emulator.may_wait``) runs in a worker thread, so it never stalls the event loop; the
rest are answered on the loop itself, which saves a thread hand-off per request.

A dropped connection (faults ``drop_before`` / ``drop_after_commit`` /
``lose_token_response``) is realised by starting the response and then raising ``ConnectionDropped``:
uvicorn then closes the connection, and the client sees an incomplete response.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from exactmate.emulator.clock import TimeSource
from exactmate.emulator.config import EmulatorConfig
from exactmate.emulator.core import Emulator, HttpRequest, HttpResponse
from exactmate.emulator.limits import MAX_BODY_BYTES


class ConnectionDropped(Exception):
    """Raised on purpose after the response has started, so the server closes the connection."""


async def _read_body(scope: Scope, receive: Receive) -> tuple[bytes, bool]:
    """The request body, or ``(b"", True)`` as soon as it is known to exceed the limit."""
    for name, value in scope.get("headers", []):
        if name == b"content-length" and value.strip().isdigit() and int(value) > MAX_BODY_BYTES:
            return b"", True
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            return b"", True
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks), False


def _request(scope: Scope, body: bytes, too_large: bool) -> HttpRequest:
    headers: dict[str, str] = {}
    for raw_name, raw_value in scope.get("headers", []):
        name = raw_name.decode("latin-1").lower()
        value = raw_value.decode("latin-1")
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
    raw_path = scope.get("raw_path")
    path = raw_path.decode("utf-8", errors="replace") if raw_path else str(scope.get("path", "/"))
    host = headers.get("host")
    if not host:
        server = scope.get("server") or ("127.0.0.1", 80)
        host = f"{server[0]}:{server[1]}"
    return HttpRequest(
        method=str(scope.get("method", "GET")),
        path=path.split("?", 1)[0],
        query=bytes(scope.get("query_string", b"")).decode("utf-8", errors="replace"),
        headers=headers,
        body=body,
        base_url=f"{scope.get('scheme', 'http')}://{host}",
        body_too_large=too_large,
    )


class _Adapter:
    """The ASGI callable behind the catch-all route."""

    def __init__(self, emulator: Emulator) -> None:
        self.emulator = emulator

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        body, too_large = await _read_body(scope, receive)
        request = _request(scope, body, too_large)
        if self.emulator.may_wait(request):
            response = await run_in_threadpool(self.emulator.handle, request)
        else:
            response = self.emulator.handle(request)
        await self._send(response, send)

    @staticmethod
    async def _send(response: HttpResponse, send: Send) -> None:
        headers = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in response.headers]
        # A dropped response promises one byte more than it sends, so the client cannot mistake the
        # truncated answer for a complete one.
        length = len(response.body) + (1 if response.drop is not None else 0)
        headers.append((b"content-length", str(length).encode()))
        await send({"type": "http.response.start", "status": response.status, "headers": headers})
        if response.drop is not None:
            raise ConnectionDropped(f"emulator fault: connection dropped ({response.drop} handling)")
        await send({"type": "http.response.body", "body": response.body})


def create_app(
    config: EmulatorConfig, clock: TimeSource | None = None, *, emulator: Emulator | None = None
) -> Starlette:
    """The emulator as an ASGI app; ``app.state.emulator`` is the ``Emulator`` behind it. An emulator
    the app creates is closed (its webhook queue flushed) when the app shuts down."""
    owned = emulator is None
    emu = emulator if emulator is not None else Emulator(config, clock)

    @asynccontextmanager
    async def lifespan(_: Any) -> AsyncIterator[None]:
        yield
        if owned:
            await run_in_threadpool(emu.close)

    adapter = _Adapter(emu)
    # methods=None: every method reaches the pipeline, which refuses unsupported ones as Exact does.
    app = Starlette(routes=[Route("/{path:path}", endpoint=adapter, methods=None)], lifespan=lifespan)
    app.state.emulator = emu
    return app

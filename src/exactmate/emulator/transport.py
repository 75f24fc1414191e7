"""``EmulatorTransport``: an httpx transport that answers from an in-process ``Emulator``.

``httpx.Client(transport=EmulatorTransport(emulator), base_url=...)`` lets library tests talk HTTP to
the emulator without a socket or an event loop, from many threads at once (the Emulator is
thread-safe; the transport keeps no state). Connection faults become the exceptions a real network
gives: a dropped connection raises ``httpx.RemoteProtocolError``; a ``slow`` fault longer than the
request's read timeout raises ``httpx.ReadTimeout`` at once, without sleeping (the request is still
handled, as a real server would after the client gave up).
"""

from __future__ import annotations

import httpx

from exactmate.emulator.core import Emulator, HttpRequest


class EmulatorTransport(httpx.BaseTransport):
    """A synchronous httpx transport over ``Emulator.handle``."""

    def __init__(self, emulator: Emulator) -> None:
        self.emulator = emulator

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        raw_path, _, raw_query = request.url.raw_path.partition(b"?")
        headers: dict[str, str] = {}
        for name, value in request.headers.multi_items():
            key = name.lower()
            headers[key] = f"{headers[key]}, {value}" if key in headers else value
        url = request.url
        port = f":{url.port}" if url.port is not None else ""
        timeout = request.extensions.get("timeout", {})
        read_timeout = timeout.get("read") if isinstance(timeout, dict) else None
        answer = self.emulator.handle(
            HttpRequest(
                method=request.method,
                path=raw_path.decode("utf-8", errors="replace"),
                query=raw_query.decode("utf-8", errors="replace"),
                headers=headers,
                body=request.read(),
                base_url=f"{url.scheme}://{url.host}{port}",
                read_timeout=read_timeout if isinstance(read_timeout, int | float) else None,
            )
        )
        if answer.drop is not None:
            raise httpx.RemoteProtocolError(
                "Server disconnected without sending a complete response.", request=request
            )
        if answer.timed_out:
            raise httpx.ReadTimeout("The read operation timed out.", request=request)
        return httpx.Response(answer.status, headers=answer.headers, content=answer.body, request=request)

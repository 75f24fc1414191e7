"""The http trigger: other systems start a flow by POSTing JSON to ``/hooks/<flow>``.

Each flow with an ``http`` trigger has a token (``exactmate flow token NAME`` makes one and shows it
once). Only its SHA-256 is kept, in ``flow-tokens.json`` under ``EXACTMATE_HOME`` (mode 0600), and a
presented token is compared in constant time. A delivery may name itself (``X-Delivery-Id``): the
run id is then ``<flow>:http:<delivery>``, so a delivery sent twice starts one run.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import secrets
import uuid
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from exactmate.errors import ValidationError

if TYPE_CHECKING:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import BaseRoute

    from exactmate.flows.definition import Flow
    from exactmate.flows.engine import FlowEngine

MAX_BODY = 1024 * 1024
DELIVERY = re.compile(r"^[A-Za-z0-9._-]{1,100}$")


class HookTokens:
    """The http triggers' tokens, kept as SHA-256 digests in ``<home>/flow-tokens.json``."""

    def __init__(self, home: Path) -> None:
        self.path = home / "flow-tokens.json"

    def _read(self) -> dict[str, str]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}

    def issue(self, flow: str) -> str:
        """A new token for ``flow`` (replacing its old one); shown to the caller once, kept hashed."""
        token = secrets.token_urlsafe(32)
        digests = self._read()
        digests[flow] = hashlib.sha256(token.encode()).hexdigest()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path.with_suffix(".tmp"), os.O_CREAT | os.O_TRUNC | os.O_WRONLY, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(digests, out, indent=2)
        os.replace(self.path.with_suffix(".tmp"), self.path)
        return token

    def accepts(self, flow: str, token: str) -> bool:
        expected = self._read().get(flow)
        if expected is None or not token:
            return False
        return hmac.compare_digest(expected, hashlib.sha256(token.encode()).hexdigest())


def receiver(
    engine: FlowEngine,
    flows: Callable[[], Mapping[str, Flow]],
    tokens: HookTokens,
    more: Sequence[BaseRoute] = (),
) -> Starlette:
    """The receiver's app: ``POST /hooks/<flow>`` starts a run with the JSON body as ``trigger.body``;
    ``GET /health`` says it is up and how many flows it serves; ``more`` routes beside them (the
    exact trigger's ``/events/<key>``)."""
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    async def hook(request: Request) -> JSONResponse:
        name = request.path_params["flow"]
        flow = flows().get(name)
        if flow is None or flow.trigger.kind != "http":
            return JSONResponse({"error": f"no flow {name!r} with an http trigger is served here"}, 404)
        presented = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
        if not tokens.accepts(name, presented):
            return JSONResponse(
                {
                    "error": "missing or wrong token",
                    "hint": f"Authorization: Bearer <exactmate flow token {name}>",
                },
                401,
            )
        delivery = request.headers.get("x-delivery-id", "")
        if delivery and not DELIVERY.match(delivery):
            return JSONResponse({"error": "X-Delivery-Id: up to 100 letters, digits, '.', '_' or '-'"}, 400)
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > MAX_BODY:
            return JSONResponse({"error": f"the body is over {MAX_BODY // 1024} KiB"}, 413)
        raw = await request.body()
        if len(raw) > MAX_BODY:
            return JSONResponse({"error": f"the body is over {MAX_BODY // 1024} KiB"}, 413)
        try:
            body: Any = json.loads(raw or b"null")
        except ValueError as exc:
            return JSONResponse({"error": f"the body is not JSON: {exc}"}, 400)
        run_id = f"{name}:http:{delivery or uuid.uuid4().hex[:12]}"
        handle = engine.start(
            flow, {"kind": "http", "body": body, "delivery": delivery or None}, run_id=run_id
        )
        return JSONResponse({"run": handle.run_id}, 202)

    async def health(request: Request) -> JSONResponse:
        return JSONResponse({"ok": True, "flows": len(flows())})

    return Starlette(routes=[Route("/hooks/{flow}", hook, methods=["POST"]), Route("/health", health), *more])


def check_name(name: str) -> str:
    from exactmate.flows.definition import NAME

    if not NAME.match(name):
        raise ValidationError(
            f"{name!r} is not a flow name", hint="flow names are lower-case letters, digits, '-'"
        )
    return name

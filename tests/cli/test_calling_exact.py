"""Every command that calls Exact starts making the TLS context first (``session.calling_exact``),
so OpenSSL reads the certificates on another thread while the command imports the client, the
store and SQLAlchemy, not after."""

from __future__ import annotations

import ast
import inspect
import textwrap
from collections.abc import Callable
from typing import Any

import pytest

from exactmate import tls
from exactmate.cli import flow, records, session, sync, time

CALLING = {
    "get": records.get,
    "delete": records.delete,
    "call": records.call,
    "time create": time.create,
    "time update": time.update,
    "sync": sync.sync,
    "flow run": flow.run,
}


def _first_statement(command: Callable[..., Any]) -> ast.stmt:
    [function] = ast.parse(textwrap.dedent(inspect.getsource(command))).body
    assert isinstance(function, ast.FunctionDef)
    body = function.body
    if isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):  # the docstring
        body = body[1:]
    return body[0]


@pytest.mark.parametrize("command", list(CALLING.values()), ids=list(CALLING))
def test_the_command_prepares_the_tls_context_before_anything_else(command: Callable[..., Any]) -> None:
    assert ast.unparse(_first_statement(command)) == "session.calling_exact()"


def test_calling_exact_starts_making_the_context(monkeypatch: pytest.MonkeyPatch) -> None:
    started: list[bool] = []
    monkeypatch.setattr(tls, "prepare", lambda: started.append(True))
    session.calling_exact()
    assert started == [True]

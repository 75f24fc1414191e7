"""Fixtures for the vault tests: a vault on a temp store, the emulator on a real port, a user at a
terminal who reads what the command printed and pastes answers, and the CLI run through ``main()``."""

from __future__ import annotations

import io
import sys
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, replace
from typing import Any, cast
from unittest import mock

import pytest
import typer.testing
from typer.testing import CliRunner

from exactmate.clock import FakeClock
from exactmate.config import Settings
from exactmate.connect import TerminalConsent
from exactmate.emulator.config import EmulatorConfig
from exactmate.vault import Vault
from tests.live_emulator import Live, consent, free_port, serve_emulator

SECRET = "emulator-demo-secret"
CLIENT_ID = EmulatorConfig().client_id
Answer = str | Callable[[str], str]


@pytest.fixture
def settings() -> Settings:
    return Settings.from_env()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def vault(settings: Settings, clock: FakeClock) -> Iterator[Vault]:
    with Vault.open(settings, clock=clock) as opened:
        yield opened


@pytest.fixture
def serve() -> Iterator[Callable[..., Live]]:
    """``serve(clock=None, **config_overrides) -> Live``; every server stops at the end of the test."""
    with ExitStack() as stack:

        def start(clock: Any = None, **overrides: Any) -> Live:
            config = replace(EmulatorConfig(), **overrides)
            base_url, emulator = stack.enter_context(serve_emulator(config, clock=clock))
            return Live(base_url, emulator, config)

        yield start


@pytest.fixture
def redirect_uri() -> str:
    """A loopback redirect URI on a free port, so a callback listener can bind it."""
    return f"http://127.0.0.1:{free_port()}/oauth/callback"


def paste_consent(
    divisions: list[int] | None = None, action: str = "approve"
) -> tuple[TerminalConsent, list[str]]:
    """A ``--no-browser`` consent whose user signs in over HTTP and pastes the redirect back.

    Returns the consent and the lines it showed (``show_url``) and said, in order.
    """
    shown: list[str] = []

    def read_line() -> str:
        url = next(line for line in reversed(shown) if line.startswith("http"))
        return consent(url, divisions=divisions, action=action) + "\n"

    terminal = TerminalConsent(
        no_browser=True,
        read_line=read_line,
        show_url=shown.append,
        say=shown.append,
        read_hidden=lambda _p: "",
    )
    return terminal, shown


class UserAtTerminal(io.RawIOBase):
    """Standard input for the CLI, typed by a user who reads the screen: each answer is a line, or a
    function of everything printed so far (stdout and stderr) that returns the line."""

    def __init__(self, *answers: Answer) -> None:
        super().__init__()
        self._answers: deque[Answer] = deque(answers)
        self._pending = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if not self._pending:
            if not self._answers:
                return 0
            answer = self._answers.popleft()
            text = answer(_screen()) if callable(answer) else answer
            self._pending = (text.rstrip("\n") + "\n").encode()
        size = min(len(buffer), len(self._pending))
        buffer[:size] = self._pending[:size]
        self._pending = self._pending[size:]
        return size


def _screen() -> str:
    sys.stdout.flush()
    sys.stderr.flush()
    streams = (cast(io.BytesIO, stream.buffer) for stream in (sys.stdout, sys.stderr))
    return "".join(stream.getvalue().decode() for stream in streams)


def sign_in_from_screen(divisions: list[int] | None = None, action: str = "approve") -> Callable[[str], str]:
    """An answer for ``UserAtTerminal``: the sign-in URL printed on a line by itself, consented to."""

    def answer(screen: str) -> str:
        urls = [
            line for line in screen.splitlines() if line.startswith("http") and "/api/oauth2/auth?" in line
        ]
        assert urls, f"no sign-in address on the screen:\n{screen}"
        return consent(urls[-1], divisions=divisions, action=action)

    return answer


@dataclass
class CliRun:
    code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


_plain_input_stream = typer.testing.make_input_stream


def _input_stream(given: Any, charset: str) -> Any:
    """typer's CliRunner takes only text or bytes as input; a ``UserAtTerminal`` passes through."""
    return given if isinstance(given, io.RawIOBase) else _plain_input_stream(given, charset)


def run_cli(*args: str, stdin: io.RawIOBase | str | None = None) -> CliRun:
    """``exactmate ARGS`` through ``command()``, what the entry point ``main()`` runs (with its error
    boundary), under typer's CliRunner isolation (its prompts read the given standard input); not
    ``main()`` itself, which takes the process over (pytest's would end with the command's code)."""
    from exactmate.cli import command

    runner = CliRunner()
    code = 0
    with (
        mock.patch.object(typer.testing, "make_input_stream", _input_stream),
        runner.isolation(input=stdin) as (out, err, _mixed),  # type: ignore[arg-type]
        mock.patch.object(sys, "argv", ["exactmate", *args]),
    ):
        try:
            command()
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        sys.stdout.flush()
        sys.stderr.flush()
        stdout, stderr = out.getvalue().decode(), err.getvalue().decode()
    return CliRun(code, stdout, stderr)


@pytest.fixture
def cli() -> Callable[..., CliRun]:
    return run_cli

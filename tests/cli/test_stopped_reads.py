"""A whole read whose writing stops early (a closed pipe, a full disk, Ctrl-C) stops its read-ahead
before the connection closes: no thread of it is left behind, no call is made past the page it
was fetching, and no ``ReadError … retrying`` warning is printed for the connection closed under it
(``Listing.close``, called by ``exactmate get`` and the web's export)."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
import threading
from collections.abc import Iterable, Iterator
from typing import IO

import pytest

from exactmate.cli import output
from exactmate.cli.output import Format
from tests.cli.conftest import D1, Emu, connected, run, serving

ACCOUNTS = 3000  # 50 pages of 60 through the base endpoint, three of 1000 through the bulk one


@pytest.fixture(scope="module")
def paged_server() -> Iterator[Emu]:
    with serving(ACCOUNTS, divisions=1) as running:
        yield running


@pytest.fixture
def paged(paged_server: Emu) -> Emu:
    return connected(paged_server)


def _read_ahead_threads() -> set[threading.Thread]:
    return {thread for thread in threading.enumerate() if thread.name.startswith("exactmate-read-ahead")}


@pytest.mark.parametrize("fmt", [Format.ndjson, Format.csv])
def test_a_write_that_fails_stops_the_read_before_the_connection_closes(
    paged: Emu, monkeypatch: pytest.MonkeyPatch, fmt: Format
) -> None:
    """The first page is written and the disk is full: the page fetched ahead is the last call."""
    before, running_before = paged.rest_calls(), _read_ahead_threads()

    def first_page_then_full(pieces: Iterable[object], out: IO[str], *_args: object, **_kw: object) -> None:
        written = iter(pieces)  # held, as a writer's loop holds it, by the traceback of its failure
        next(written)
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    name = "write_encoded" if fmt is Format.ndjson else "write_records"
    monkeypatch.setattr(output, name, first_page_then_full)
    # filtered: the base endpoint, 60 a call, so there are pages left to read when the write fails
    args = ("crm/Accounts", "--filter", "Blocked eq false", "--all", "-f", fmt.value, "-d", str(D1), "--yes")
    with pytest.raises(OSError) as failed:
        run("get", *args)
    assert failed.value.errno == errno.ENOSPC
    assert _read_ahead_threads() - running_before == set(), "the read-ahead outlived the command"
    assert paged.rest_calls() - before <= 2  # the page written and the one fetched ahead, of 50


def test_a_closed_pipe_ends_the_command_without_a_warning(paged: Emu) -> None:
    """``exactmate get … --all | head -c 100``, as a shell runs it: 1000-row pages through the
    bulk endpoint, the next one being received when the pipe closes."""
    command = [sys.executable, "-c", "from exactmate.cli import main; main()"]
    args = ["get", "crm/Accounts", "--all", "-f", "ndjson", "--yes"]
    with subprocess.Popen(command + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as running:
        assert running.stdout is not None and running.stderr is not None
        head = running.stdout.read(100)
        running.stdout.close()  # what head does once it has its 100 bytes
        errors = running.stderr.read().decode()
        code = running.wait(timeout=60)
    assert head.startswith(b'{"')
    assert "warning" not in errors and "Traceback" not in errors, errors
    assert code != 0  # the output is not whole, and a pipeline under pipefail says so
    pages = paged.stats()["by_endpoint"]["bulk/crm/accounts"]
    assert sum(pages.values()) <= 2  # the page written and the one fetched ahead, of three

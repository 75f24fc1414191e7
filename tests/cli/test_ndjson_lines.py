"""``exactmate get --all --format ndjson``: pages written as lines straight from their bytes
(``Resource.read(lines=True)``, ``Listing.ndjson``) give the very bytes the general path gives, run
side by side with that path forced (every ``LineShape.page`` refused)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from exactmate.odata import LinedPage, LineShape
from tests.cli.conftest import D1, Emu, connected, run, serving

ACCOUNTS = 130  # a division's accounts: three 60-row pages through the base endpoint


@pytest.fixture(scope="module")
def paged_server() -> Iterator[Emu]:
    with serving(ACCOUNTS, divisions=2) as running:
        yield running


@pytest.fixture
def paged(paged_server: Emu) -> Emu:
    return connected(paged_server)


def _both(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, *args: str) -> tuple[bytes, bytes, int]:
    """The command's output as it runs, the output with every page left to the general path, and
    how many pages were written as lines in the first run."""
    written = LineShape.page
    lined: list[LinedPage] = []

    def watched(shape: LineShape, content: bytes) -> LinedPage | None:
        made = written(shape, content)
        if made is not None:
            lined.append(made)
        return made

    outputs = []
    for name, page in (("lines", watched), ("general", lambda shape, content: None)):
        monkeypatch.setattr(LineShape, "page", page)
        target = tmp_path / f"{name}.ndjson"
        result = run("get", *args, "--all", "-f", "ndjson", "-o", str(target), "--yes")
        assert result.exit_code == 0, result.stderr
        outputs.append(target.read_bytes())
    return outputs[0], outputs[1], len(lined)


@pytest.mark.parametrize("division", [str(D1), "all"])
def test_pages_written_from_their_bytes_are_the_lines_of_the_general_path(
    paged: Emu, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, division: str
) -> None:
    """A filtered read goes through the base endpoint, 60 a call: the first page of each division
    is parsed (it gives the fields' order), the other two are written from their bytes."""
    args = ("crm/Accounts", "--filter", "Blocked eq false", "-d", division)
    lines, general, lined = _both(monkeypatch, tmp_path, *args)
    divisions = 2 if division == "all" else 1
    assert lines == general and lines.count(b"\n") == ACCOUNTS * divisions
    assert lined == 2 * divisions
    if division == "all":
        assert all(line.startswith(b'{"Division":') for line in lines.splitlines())


def test_a_chosen_set_of_fields_is_written_from_the_bytes_too(
    paged: Emu, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    args = ("crm/Accounts", "--filter", "Blocked eq false", "--select", "Name,ID,Created", "-d", "all")
    lines, general, lined = _both(monkeypatch, tmp_path, *args)
    assert lines == general and lined == 4
    assert lines.splitlines()[0].startswith(b'{"Division":100001,"Name":')


def test_a_read_through_a_row_twin_is_never_written_from_the_bytes(
    paged: Emu, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The time-and-cost feed's pages hold cost entries too, which the general path leaves out."""
    lines, general, lined = _both(monkeypatch, tmp_path, "project/TimeTransactions", "-d", str(D1))
    assert lines == general and lines and lined == 0


def test_the_records_go_to_standard_output_as_bytes_too(paged: Emu, monkeypatch: pytest.MonkeyPatch) -> None:
    args = ("get", "crm/Accounts", "--all", "--filter", "Blocked eq false", "-d", "all", "-f", "ndjson", "-y")
    shown = run(*args)
    monkeypatch.setattr(LineShape, "page", lambda shape, content: None)
    general = run(*args)
    assert shown.exit_code == 0 and shown.stdout == general.stdout
    assert shown.stdout.count("\n") == 2 * ACCOUNTS
    assert f"{2 * ACCOUNTS:,} records read in 6 calls" in shown.stderr


def test_the_command_s_connections_read_a_mebibyte_at_a_time(
    paged: Emu, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The commands own their process, so they have httpcore read answers ``READ_BYTES`` at a time
    (its own: 64 KiB); the pinned httpcore must still read by that class attribute."""
    import inspect

    from httpcore._sync.http11 import HTTP11Connection

    from exactmate.cli import session

    monkeypatch.setattr(HTTP11Connection, "READ_NUM_BYTES", 64 * 1024)  # restored after the test
    assert "self.READ_NUM_BYTES" in inspect.getsource(HTTP11Connection._receive_event)
    result = run("get", "crm/Accounts", "--top", "1", "-d", str(D1), "-f", "json")
    assert result.exit_code == 0, result.stderr
    assert HTTP11Connection.READ_NUM_BYTES == session.READ_BYTES == 1 << 20

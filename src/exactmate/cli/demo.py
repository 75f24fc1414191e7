"""``exactmate demo``: the main job from start to end, with no Exact account.

It starts the built-in Exact Online emulator on a free loopback port, adds a vault credential for it
and connects (the consent page is filled in for the user), runs Test Connect, then each of the four
actions, saying at each step what happened. Everything lives in a temporary exactmate home (your
own vault is not touched) unless ``--home`` names one to keep. ``--ui`` then opens the web UI on the
same vault while the emulator keeps running.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from rich.console import Console

from exactmate.actions import (
    ActionContext,
    create_time_transactions,
    delete_record,
    get_record,
    list_records,
    open_connection,
    read_entries,
    update_time_transaction,
)
from exactmate.actions.presentation import cell
from exactmate.actions.timerules import TIME_TRANSACTIONS
from exactmate.cli.demo_consent import EmulatorConsent
from exactmate.config import Settings
from exactmate.connect.connector import Connector
from exactmate.emulator import config as emulator_config
from exactmate.emulator.config import EmulatorConfig
from exactmate.errors import ExactmateError, ValidationError
from exactmate.vault import Vault

app = typer.Typer()

CREDENTIAL = "Exact demo"
NOTES = "exactmate demo"


@dataclass
class Demo:
    """The demo's state as it goes: where things live and what was created."""

    console: Console
    settings: Settings
    base_url: str
    config: EmulatorConfig
    created: list[str] = field(default_factory=list)
    step_number: int = 0

    def step(self, title: str) -> None:
        self.step_number += 1
        self.console.rule(f"[bold]Step {self.step_number}: {title}", align="left")

    def say(self, text: str) -> None:
        self.console.print(f"  {text}", highlight=False)


@app.command("demo")
def demo(
    ui: Annotated[bool, typer.Option("--ui", help="Then open the web UI on the demo's vault.")] = False,
    home: Annotated[
        Path | None, typer.Option(help="Keep the demo's vault and database here (default: a temp dir).")
    ] = None,
    records: Annotated[
        int, typer.Option(min=10, max=200_000, help="Size of the emulator's demo data.")
    ] = 200,
) -> None:
    """Run the emulator, connect to it, and show each of the four actions: no Exact account needed."""
    from exactmate.emulator.server import BackgroundServer  # the server stack loads only here

    console = Console(highlight=False, soft_wrap=True)
    with _home(home) as where:
        settings = Settings.from_env(home=where, db_url=f"sqlite:///{where / 'exactmate.db'}")
        config = EmulatorConfig(host="127.0.0.1", port=0, records=records, divisions=2)
        console.print(f"exactmate demo — everything below runs on this machine (data in {where})")
        with BackgroundServer(config) as server:
            run = Demo(console, settings, server.base_url, config)
            run.step("start the Exact Online emulator")
            run.say(f"listening on {server.base_url}: OAuth2, REST, rate limits, the consent page")
            run.say(f"divisions {', '.join(map(str, config.accessible_divisions))}; {records} demo records")
            _connect(run)
            with open_connection(CREDENTIAL, settings=settings) as conn:
                _create(run, conn, where)
                _update(run, conn)
                _list_and_get(run, conn)
                _delete(run, conn)
            _finish(run)
            if ui:
                _serve_ui(run)


@contextmanager
def _home(home: Path | None) -> Iterator[Path]:
    if home is not None:
        home.expanduser().mkdir(parents=True, exist_ok=True)
        yield home.expanduser().resolve()
        return
    with tempfile.TemporaryDirectory(prefix="exactmate-demo-") as tmp:
        yield Path(tmp)


def _connect(run: Demo) -> None:
    run.step("add a vault credential and connect (Connect & Create)")
    consent = EmulatorConsent(emulator_config.DEMO_USERNAME, emulator_config.DEMO_PASSWORD)
    with Vault.open(run.settings) as vault:
        connector = Connector(vault, settings=run.settings, consent=consent)
        values = vault.new_values(
            CREDENTIAL,
            server_url=run.base_url,
            client_id=run.config.client_id,
            client_secret=run.config.client_secret,
        )
        saved = connector.create(values)
        for line in consent.steps:
            run.say(f"consent (done for you): {line}")
        if not saved.saved or saved.test is None:
            lines = saved.test.lines() if saved.test else [saved.note]
            raise ExactmateError("The demo could not connect to its emulator: " + " / ".join(lines))
        run.say(f"credential {CREDENTIAL!r} saved, client secret and tokens encrypted: {saved.note}")
        run.step("Test Connect")
        for line in connector.test(CREDENTIAL).lines():
            run.say(line)


def _demo_entries(conn: ActionContext, where: Path) -> Path:
    """A small CSV of bookings on the current division's first project and hour type."""
    division = conn.client.current_division()
    item = next(
        conn.client.resource("logistics/Items", division).list(select=["ID"], filter={"IsTime": 1}, top=1)
    )
    project = next(conn.client.resource("project/Projects", division).list(select=["ID", "Code"], top=1))
    path = where / "hours.csv"
    rows = ["Date,Item,Project,Quantity,Notes"]
    for day, hours in ((2, "7.5"), (3, "8"), (4, '"6,5"')):
        rows.append(f"2026-03-0{day},{item['ID']},{project['ID']},{hours},{NOTES} day {day}")
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def _create(run: Demo, conn: ActionContext, where: Path) -> None:
    run.step("Create Project Time Transactions (from a CSV file)")
    entries = read_entries(_demo_entries(conn, where))
    run.say(f"{len(entries)} entries in {where / 'hours.csv'}; every one checked before the first call")
    try:
        create_time_transactions(conn, [{"Quantity": "eight", "Notes": "no item"}])
    except ValidationError as exc:
        run.say("a bad entry is refused locally, costing no call:")
        for problem in exc.problems:
            run.say(f"  - {problem}")
    result = create_time_transactions(conn, entries)
    for outcome in result.outcomes:
        run.say(f"row {outcome.row}: {outcome.status} in division {outcome.division}, ID {outcome.record_id}")
        if outcome.record_id:
            run.created.append(outcome.record_id)
    again = create_time_transactions(conn, read_entries(where / "hours.csv"))
    run.say(
        f"the same file again: {len(again.created)} created, {len(again.skipped)} already created "
        "(the create journal makes reruns safe)"
    )
    if not result.ok or len(run.created) != len(entries):
        raise ExactmateError("The demo could not create its time transactions: " + str(result.summary()))


def _update(run: Demo, conn: ActionContext) -> None:
    run.step("Update Project Time Transaction (only the chosen fields are sent)")
    result = update_time_transaction(conn, run.created[0], {"Quantity": "6", "Notes": f"{NOTES} (corrected)"})
    for name in result.sent:
        run.say(f"{name}: {cell(result.before.get(name))} -> {cell(result.after.get(name))}")
    run.say(f"before/after snapshot kept in the audit log (entry {result.audit_id})")
    final = next(
        conn.client.resource(TIME_TRANSACTIONS).list(select=["ID"], filter={"HourStatus": 20}, top=1), None
    )
    if final is not None:
        try:
            update_time_transaction(conn, final["ID"], {"Notes": "too late"})
        except ValidationError as exc:
            run.say(f"a final entry is refused before any write: {exc.message}")


def _list_and_get(run: Demo, conn: ActionContext) -> None:
    run.step("List or Get Endpoint")
    listing = list_records(
        conn,
        TIME_TRANSACTIONS,
        select="ID,Date,Quantity,Notes",
        filter=f"startswith(Notes,'{NOTES}') eq true",
    )
    for record in listing:
        run.say(f"{record['ID']}  {cell(record['Date'])[:10]}  {record['Quantity']:>4} h  {record['Notes']}")
    one = get_record(conn, TIME_TRANSACTIONS, run.created[1], select="ID,Quantity,HourStatus")
    run.say(f"get by key: {_short(one)}")
    projects = list_records(conn, "project/Projects", division="all", top=2, select="Code,Description")
    for project in projects:
        run.say(f"division {project['Division']}: project {project['Code']} {project['Description']}")


def _delete(run: Demo, conn: ActionContext) -> None:
    run.step("Delete Endpoint with ID (shown first, then deleted, snapshot kept)")
    shown: list[str] = []

    def confirm(record: Any, _request: Any) -> bool:
        shown.append(_short(record or {}))
        return True  # the demo answers yes, as `exactmate delete --yes` does

    result = delete_record(conn, TIME_TRANSACTIONS, run.created[-1], confirm=confirm)
    run.say(f"record shown before it goes: {shown[0]}")
    request = result.request
    run.say(f"deleted: {result.deleted} ({request.method} {request.url}); audit entry {result.audit_id}")


def _finish(run: Demo) -> None:
    run.step("done")
    stats = httpx.get(f"{run.base_url}/_emulator/stats", timeout=10).json()
    run.say(
        f"the emulator answered {stats['total_requests']} requests; {stats['rate_limited']} were rate limited"
    )
    run.say("next: connect a real Exact Online with `exactmate vault add`, then the same commands")


def _serve_ui(run: Demo) -> None:
    """Issue 6's web UI on the demo's vault, while the emulator keeps running (Ctrl+C stops both)."""
    from exactmate.web.server import serve_ui

    run.say("opening the web UI on the demo's vault (Ctrl+C to stop)")
    serve_ui(run.settings, announce=lambda url, sign_in: run.say(f"web UI on {url}; sign in: {sign_in}"))


def _short(record: dict[str, Any] | Any) -> str:
    return ", ".join(
        f"{k}={cell(v)}" for k, v in dict(record).items() if k in ("ID", "Quantity", "HourStatus", "Notes")
    )

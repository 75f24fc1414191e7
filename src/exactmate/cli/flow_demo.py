"""``exactmate flow demo``: a flow run against the built-in emulator, with no Exact account.

The emulator starts on a free loopback port, a credential is added to a temporary vault (consent
given for you), and the demo flow runs twice: it reads a small CSV of hours, looks the project up by
its code, books the hours and lists them back; the second run books nothing (the create journal,
scoped to the flow). Then its history is shown.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from exactmate.cli.output import Format

DEMO_FLOW = """\
name: demo-hours
description: Book the week's hours from a CSV, then list them back
credential: Exact demo
division: current
trigger:
  manual:
    inputs:
      hours: {type: file}
      project: {type: string}
steps:
  - id: project
    action: list_or_get
    with:
      endpoint: project/Projects
      filter: "Code eq '{{ trigger.inputs.project }}'"
      select: [ID, Code, Description]
      top: 1
  - id: book
    action: create_time_transactions
    for_each: "{{ trigger.rows }}"
    with:
      fields:
        Project: "{{ steps.project.record.ID }}"
        Item: "code:{{ item.item }}"
        Date: "{{ item.date }}"
        Quantity: "{{ item.hours }}"
        Notes: "{{ item.notes }}"
    on_error: continue
  - id: check
    action: list_or_get
    with:
      endpoint: project/TimeTransactions
      filter: "Project eq guid'{{ steps.project.record.ID }}' and Notes eq 'flow demo'"
      select: [ID, Date, Quantity, Notes]
  - id: tell
    action: log
    with:
      message: >-
        {{ steps.book.created }} booked, {{ steps.book.skipped }} booked before, {{ steps.check.count }}
        on project {{ steps.project.record.Code }}
"""


def demo(
    home: Annotated[
        Path | None, typer.Option(help="Keep the demo's vault, database and runs here (default: a temp dir).")
    ] = None,
) -> None:
    """Run a flow against the built-in emulator: read a CSV, look up the project, book, list back."""
    from exactmate.actions import list_records, open_connection
    from exactmate.cli.demo import CREDENTIAL, Demo, _connect, _home
    from exactmate.cli.flow import _inputs, _print_steps
    from exactmate.config import Settings
    from exactmate.emulator.config import EmulatorConfig
    from exactmate.emulator.server import BackgroundServer
    from exactmate.flows import load_flow
    from exactmate.flows.engine import FlowEngine
    from exactmate.flows.history import RunHistory

    console = Console(highlight=False, soft_wrap=True)
    with _home(home) as where:
        settings = Settings.from_env(home=where, db_url=f"sqlite:///{where / 'exactmate.db'}")
        config = EmulatorConfig(host="127.0.0.1", port=0, records=200, divisions=2)
        console.print(f"exactmate flow demo — everything below runs on this machine (data in {where})")
        with BackgroundServer(config) as server:
            run = Demo(console, settings, server.base_url, config)
            run.step("start the Exact Online emulator")
            run.say(f"listening on {server.base_url}")
            _connect(run)
            with open_connection(CREDENTIAL, settings=settings) as conn:
                division = conn.client.current_division()
                projects = list_records(conn, "project/Projects", division=division, select="Code", top=1)
                items = list_records(
                    conn, "logistics/Items", division=division, select="Code", filter="IsTime eq 1", top=1
                )
                project: dict[str, Any] = next(iter(projects))
                item: dict[str, Any] = next(iter(items))
            flow_file = where / "demo-hours.yaml"
            flow_file.write_text(DEMO_FLOW, encoding="utf-8")
            hours = where / "hours.csv"
            lines = ["date,item,hours,notes"] + [
                f"2026-03-0{day},{item['Code']},{h},flow demo" for day, h in ((2, 7.5), (3, 8), (4, 6.5))
            ]
            hours.write_text("\n".join(lines) + "\n", encoding="utf-8")
            run.step("the flow file, checked before it runs")
            flow = load_flow(DEMO_FLOW, source=str(flow_file))
            run.say(
                f"{flow_file}: {len(flow.steps)} steps: "
                + ", ".join(f"{s.id} ({s.action})" for s in flow.steps)
            )
            trigger = _inputs(flow, [f"project={project['Code']}"], [f"hours={hours}"])
            with FlowEngine(settings) as engine:
                for attempt in ("run it", "run it again: the create journal books nothing twice"):
                    run.step(attempt)
                    handle = engine.start(flow, trigger)
                    engine.wait(handle.run_id)
                    detail = RunHistory(settings).show(handle.run_id)
                    _print_steps(
                        detail.steps, Format.table, title=f"Run {handle.run_id}: {detail.summary.status}"
                    )
            run.step("the run history")
            for summary in RunHistory(settings).runs("demo-hours"):
                run.say(f"{summary.run_id}  {summary.status}")
            run.say("next: exactmate flow show RUN_ID, and docs/flows.md for triggers and steps")

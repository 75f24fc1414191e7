"""Commands on any endpoint: ``get`` (list or get), ``delete``, the ``endpoints`` and ``fields``
pickers, and ``call`` (a custom request)."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO, TYPE_CHECKING, Annotated, Any

import typer

from exactmate.cli import session
from exactmate.cli.exit_codes import exit_code_for
from exactmate.cli.formats import Format
from exactmate.errors import ValidationError

if TYPE_CHECKING:  # each command imports what it runs: its --help needs neither the client, the
    # store, nor the writers (Rich's tables, JSON, CSV)
    from rich.console import Console

    from exactmate.actions import ActionContext
    from exactmate.actions.delete import Confirm, DeleteResult
    from exactmate.actions.listget import CountHook
    from exactmate.actions.readcost import ReadCost
    from exactmate.resource import ReadQuery

app = typer.Typer()

EndpointArg = Annotated[str, typer.Argument(help="service/Endpoint, e.g. crm/Accounts (any case).")]


@app.command("get")
def get(
    ctx: typer.Context,
    endpoint: EndpointArg,
    key: Annotated[str | None, typer.Argument(help="The record's key; leave out to list.")] = None,
    select: Annotated[str | None, typer.Option(help="Fields to return, comma-separated.")] = None,
    filter: Annotated[str | None, typer.Option(help="OData $filter, e.g. \"Code eq 'A1'\".")] = None,
    top: Annotated[
        int | None, typer.Option(help="At most this many records (default 60); with --division all, in all.")
    ] = None,
    all_: Annotated[
        bool, typer.Option("--all", help="Every record, streamed (bulk/sync twin if any).")
    ] = False,
    order_by: Annotated[str | None, typer.Option("--order-by", help="e.g. 'Code desc'.")] = None,
    credential: session.CredentialOption = None,
    division: session.DivisionOption = "current",
    fmt: session.FormatOption = Format.table,
    output: session.OutputOption = None,
    overwrite: session.OverwriteOption = False,
    raw_csv: Annotated[
        bool,
        typer.Option(
            "--raw-csv",
            help="Write CSV cells as they are: by default a text starting with = + - @ gets a leading ' "
            "so that a spreadsheet does not run it as a formula.",
        ),
    ] = False,
    yes: Annotated[
        bool, typer.Option("--yes", "-y", help="--all: read without asking, however many calls it takes.")
    ] = False,
) -> None:
    """List records of an endpoint, or get one by its key.

    With --all, what the read will cost is told (records, calls, time, share of today's calls): on a
    terminal first, and asked about when it is more than a tenth of what is left today; with --yes or
    nobody to ask, as the first page arrives (which counts the records too: one call fewer)."""
    session.calling_exact()
    from exactmate.actions.divisions import division_numbers
    from exactmate.actions.listget import by_key, check_query, get_record, read_listing
    from exactmate.cli.output import check_output, destination, write_encoded, write_record, write_records
    from exactmate.cli.progress import progress

    check_output(output, overwrite=overwrite)
    choice = session.division(division)
    target = session.endpoint(ctx, endpoint, "GET", key)
    bar_on = all_ and session.show_progress(data_on_screen=output is None)
    calls = [0]

    def on_page(_division: int, records: int) -> None:
        calls[0] += 1
        bar(records)

    with session.connect(ctx, credential) as conn:
        if by_key(target, key, filter=filter, top=top, order_by=order_by, all=all_):
            record = get_record(conn, target, key, division=choice, select=select)
            with destination(output, overwrite=overwrite) as out:
                write_record(record, fmt, out, title=f"{endpoint} {key}", raw_csv=raw_csv)
            return
        query = check_query(
            conn.client.catalogue,
            target,
            select=select,
            filter=filter,
            top=top,
            order_by=order_by,
            everything=all_,
        )
        total, counted, numbers = None, [0], None
        priced = all_ and target.kind == "rest"
        # Nobody will be asked: the first page counts the records instead of a $count call before it.
        on_count = None
        if priced and query.counts_inline and (yes or not session.someone_can_answer()):
            on_count = _cost_on_first_page(conn, query, counted, lambda records: bar.add_to_total(records))
        elif priced:
            numbers = division_numbers(conn.client, choice)  # looked up once, for the cost and the read
            total, counted[0] = _tell_the_cost(conn, query, numbers, yes=yes)
        reading = progress(f"Reading {endpoint}", total, enabled=bar_on, total_later=on_count is not None)
        # a write that fails (a closed pipe, a full disk, Ctrl-C) closes the listing before the
        # connection: its read-ahead stops instead of finding the connection closed under it
        with (
            reading as bar,
            read_listing(
                conn, query, division=choice, numbers=numbers, on_page=on_page, on_count=on_count
            ) as found,
            destination(output, overwrite=overwrite) as out,
        ):
            if fmt is Format.ndjson:  # whole pages written straight from their bytes (Listing.ndjson)
                write_encoded(found.ndjson(), out)
            else:
                write_records(found, fmt, out, columns=found.fields, title=target.path, raw_csv=raw_csv)
    if all_:
        where = f"written to {output}" if output is not None else "read"
        counting = f", plus {counted[0]} to count them" if counted[0] else ""
        made = f"{calls[0]:,} call{'' if calls[0] == 1 else 's'}"
        session.echo_err(f"{found.count:,} records {where} in {made}{counting}")
    if found.errors:
        for number, error in found.errors:
            session.echo_err(f"error: division {number}: {error}")
        raise typer.Exit(exit_code_for(found.errors[0][1]))


def _tell_the_cost(
    conn: ActionContext, query: ReadQuery, numbers: list[int], *, yes: bool
) -> tuple[int, int]:
    """Print what reading every record will cost in the divisions ``numbers`` (one ``$count`` call a
    division); on a terminal, ask when it is more than a tenth of the calls left today. The number
    of records (for the bar) and of the counting calls."""
    from exactmate.actions.readcost import estimate_read

    costs = [estimate_read(conn, query, number) for number in numbers]
    for cost in costs:
        _say_cost(query, cost)
    big = [cost for cost in costs if cost.big]
    asked = big and not yes and session.someone_can_answer()
    if asked and not session.agree("This read uses more than a tenth of the calls left today. Go on?"):
        raise typer.Exit(1)
    return sum(cost.records for cost in costs), sum(cost.counting_calls for cost in costs)


def _cost_on_first_page(
    conn: ActionContext, query: ReadQuery, counted: list[int], add_to_total: Callable[[int], None]
) -> CountHook:
    """The ``on_count`` of a read nobody is asked about: as a division's first page arrives, before
    its records are written, print what the read costs there and add its records to the bar's total.
    Should Exact send no ``__count``, a ``$count`` call counts them after all (added to ``counted``)."""
    from exactmate.actions.readcost import estimate_read, read_cost

    def told(division: int, records: int | None) -> None:
        if records is None:
            cost = estimate_read(conn, query, division)
            counted[0] += cost.counting_calls
        else:
            cost = read_cost(conn, query, division, records)
        _say_cost(query, cost)
        add_to_total(cost.records)

    return told


def _say_cost(query: ReadQuery, cost: ReadCost) -> None:
    session.echo_err(f"Reading {query.endpoint.path} in {cost.describe()}")


@app.command("delete")
def delete(
    ctx: typer.Context,
    endpoint: EndpointArg,
    key: Annotated[
        str, typer.Argument(help="The record's key (GUID, number or text; A=…,B=… if composite).")
    ],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Delete without asking.")] = False,
    credential: session.CredentialOption = None,
    division: session.DivisionOption = "current",
    dry_run: session.DryRunOption = False,
    fmt: session.FormatOption = Format.table,
) -> None:
    """Delete one record by its key: shown first, confirmed (unless --yes), kept in the audit log."""
    session.calling_exact()
    from rich.console import Console

    from exactmate.actions import delete_record

    console = Console(highlight=False, soft_wrap=True)
    session.endpoint(ctx, endpoint, "DELETE", key)
    shown_on = console.file if fmt is Format.table else sys.stderr  # keep JSON output clean
    confirm = _confirm_delete(f"{endpoint} {key}", yes, shown_on, dry_run=dry_run)
    with session.connect(ctx, credential) as conn:
        result = delete_record(
            conn, endpoint, key, division=session.division(division), confirm=confirm, dry_run=dry_run
        )
    _show_deleted(result, fmt, console)


def _confirm_delete(title: str, yes: bool, shown_on: IO[str], *, dry_run: bool) -> Confirm:
    """Show the record, then ask (unless ``--yes``); with nobody at the terminal, refuse to ask."""
    from exactmate.actions.dryrun import PlannedRequest
    from exactmate.cli.output import write_record

    if not yes and not dry_run and not session.someone_can_answer():
        raise ValidationError(
            "A delete must be confirmed, and nobody at a terminal can answer; nothing was deleted",
            hint="pass --yes to delete without the question",
        )

    def confirm(record: Mapping[str, Any] | None, request: PlannedRequest) -> bool:
        if record is not None:
            write_record(record, Format.table, shown_on, title=title)
        return yes or session.agree(f"Delete this record ({request.method} {request.url})?")

    return confirm


def _show_deleted(result: DeleteResult, fmt: Format, console: Console) -> None:
    from exactmate.actions.writers import to_json
    from exactmate.cli.output import write_record

    if fmt is not Format.table:
        payload = {**result.as_dict(), "record": result.record}
        typer.echo(to_json(payload, indent=2 if fmt is Format.json else None))
    elif result.dry_run:
        if result.record is not None:
            write_record(result.record, Format.table, console.file, title=f"{result.endpoint} {result.key}")
        console.print("Dry run, not sent:")
        console.print(str(result.request), markup=False)
    elif result.deleted:
        console.print(
            f"Deleted {result.endpoint} {result.key} in division {result.division} "
            f"(audit log entry {result.audit_id})."
        )
    if result.cancelled:
        session.echo_err("Not deleted: the deletion was not confirmed (pass --yes to skip the question).")
        raise typer.Exit(1)


@app.command("endpoints")
def endpoints(
    ctx: typer.Context,
    search: Annotated[str, typer.Argument(help="Part of a path or scope, e.g. 'time' or 'crm/'.")] = "",
    method: Annotated[str | None, typer.Option(help="Only endpoints allowing this method.")] = None,
    include_removed: Annotated[bool, typer.Option(help="Also endpoints Exact probably removed.")] = False,
    fmt: session.FormatOption = Format.table,
) -> None:
    """The service and endpoint picker: service, endpoint, methods, key, page size, status."""
    from exactmate.actions import describe_endpoints
    from exactmate.cli.output import write_records

    catalogue = session.catalogue(ctx)
    rows = describe_endpoints(search, method=method, include_removed=include_removed, catalogue=catalogue)
    columns = ["path", "methods", "key", "key_type", "page_size", "status"]
    write_records(rows, fmt, _stdout(), columns=columns if fmt is Format.table else None, title="Endpoints")


@app.command("fields")
def fields(
    ctx: typer.Context,
    endpoint: EndpointArg,
    search: Annotated[str, typer.Argument(help="Part of a field name.")] = "",
    writable: Annotated[bool, typer.Option(help="Only fields a create may set.")] = False,
    fmt: session.FormatOption = Format.table,
) -> None:
    """The Data Manager's field list: name, type, mandatory, read-only."""
    from exactmate.actions import describe_fields
    from exactmate.actions.picker import field_suggestions
    from exactmate.cli.output import write_records

    catalogue = session.catalogue(ctx)
    rows = describe_fields(endpoint, search, writable=writable, catalogue=catalogue)
    if not rows and search:
        near = field_suggestions(endpoint, search, catalogue=catalogue)
        hint = f" Did you mean: {', '.join(near)}?" if near else ""
        session.echo_err(f"No field of {endpoint} matches {search!r}.{hint}")
        return
    columns = ["name", "type", "mandatory", "read_only", "key"]
    write_records(rows, fmt, _stdout(), columns=columns if fmt is Format.table else None, title=endpoint)


@app.command("call")
def call(
    ctx: typer.Context,
    method: Annotated[str, typer.Argument(help="GET, POST, PUT or DELETE.")],
    path: Annotated[str, typer.Argument(help="e.g. read/project/HoursByDate or crm/Accounts(guid'…')")],
    data: Annotated[str | None, typer.Option(help="JSON body, or @file.json.")] = None,
    param: Annotated[
        list[str] | None, typer.Option("--param", "-p", help="Query parameter name=value (repeatable).")
    ] = None,
    credential: session.CredentialOption = None,
    division: session.DivisionOption = "current",
    dry_run: session.DryRunOption = False,
    fmt: session.FormatOption = Format.json,
    output: session.OutputOption = None,
    overwrite: session.OverwriteOption = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="A DELETE: delete without asking.")] = False,
    select: Annotated[str | None, typer.Option(help="Fields to return: the same as -p '$select=…'.")] = None,
    filter: Annotated[str | None, typer.Option(help="OData $filter: the same as -p '$filter=…'.")] = None,
    top: Annotated[int | None, typer.Option(help="At most this many records: -p '$top=N'.")] = None,
) -> None:
    """A custom request: read/ functions, navigation links, /$count and anything else.

    A DELETE addresses one record and is shown and confirmed first, like ``exactmate delete``; a
    DELETE and a PUT to one record are kept in the audit log."""
    session.calling_exact()
    from rich.console import Console

    from exactmate.actions import DeleteResult, PlannedRequest, custom_call
    from exactmate.cli.output import check_output, destination, write_record, write_records

    check_output(output, overwrite=overwrite)
    body = _data(data)
    options = {"$select": select, "$filter": filter, "$top": None if top is None else str(top)}
    params = _params(param or []) + [(name, value) for name, value in options.items() if value is not None]
    given = [name for name, _ in params]
    if doubled := sorted({name for name in given if given.count(name) > 1 and name.startswith("$")}):
        raise ValidationError(
            f"{', '.join(doubled)} given twice (as an option and as -p)", hint="give each one once"
        )
    console = Console(highlight=False, soft_wrap=True)
    confirm = None
    if method.strip().upper() == "DELETE":
        shown_on = console.file if fmt is Format.table else sys.stderr
        confirm = _confirm_delete(path, yes, shown_on, dry_run=dry_run)
    with session.connect(ctx, credential) as conn:
        answer = custom_call(
            conn,
            method,
            path,
            division=session.division(division),
            params=params,
            data=body,
            dry_run=dry_run,
            confirm=confirm,
        )
    if isinstance(answer, DeleteResult):
        _show_deleted(answer, fmt, console)
        return
    with destination(output, overwrite=overwrite) as out:
        if isinstance(answer, PlannedRequest):
            out.write("Dry run, not sent:\n" + str(answer) + "\n")
        elif isinstance(answer, list):
            write_records(answer, fmt, out)
        elif isinstance(answer, dict):
            write_record(answer, fmt, out)
        elif answer is None:
            out.write("(empty answer: done)\n")
        else:
            out.write(f"{answer}\n")


def _data(data: str | None) -> Any:
    if data is None:
        return None
    text = data
    if data.startswith("@"):
        path = Path(data[1:]).expanduser()
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ValidationError(f"Cannot read {path}: {exc.strerror}", hint="--data @file.json") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValidationError(
            f"--data is not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})",
            hint='e.g. --data \'{"Notes": "text"}\'',
        ) from None


def _params(items: list[str]) -> list[tuple[str, str]]:
    pairs: list[tuple[str, str]] = []
    problems: list[str] = []
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            problems.append(f"{item!r} is not name=value (e.g. --param checkDate=datetime'2026-03-02')")
        else:
            pairs.append((name.strip(), value))
    if problems:
        raise ValidationError("Some --param values are malformed", problems=problems)
    return pairs


def _stdout() -> Any:
    return sys.stdout

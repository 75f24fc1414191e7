"""``exactmate vault``: application credentials — add (Connect & Create), list, show, default, edit,
test, connect, disconnect, remove, rotate-key.

Secrets never travel as option values (they would land in shell history and process lists): the
client secret comes from a hidden prompt or, with ``--client-secret-stdin``, from the first line of
standard input; the webhook secret (``--webhook-secret-stdin``) from the next line. With
``--no-browser`` the sign-in address is printed on a line by itself and the address the browser
ended on is read from the next line of standard input.
"""

from __future__ import annotations

import enum
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated

import typer

from exactmate import errors
from exactmate.cli.context import context_of, no_database_yet, read_hidden
from exactmate.cli.exit_codes import EXIT_CODES
from exactmate.cli.formats import TextFormat as Format
from exactmate.clock import utc
from exactmate.errors import ValidationError
from exactmate.vault.fields import AUTH_TYPES, DEFAULT_REDIRECT_URI

if TYPE_CHECKING:  # the commands import these when they run: `vault list` needs neither httpx nor the
    # client, and Rich's table only when there is a credential to show
    from exactmate.connect import Cause, ConnectCheck, Connector, SaveResult
    from exactmate.vault import Credential, Vault

app = typer.Typer(
    help="Application credentials for Exact Online: add, test, connect, list, edit, remove.",
    no_args_is_help=True,
)




class ListFormat(enum.StrEnum):
    table = "table"
    json = "json"


NameArg = Annotated[str, typer.Argument(help="The credential's Connector Name (any case).")]
NoBrowser = Annotated[
    bool,
    typer.Option(
        "--no-browser",
        help="Print the sign-in address instead of opening a browser; paste the address the browser "
        "ends on back on standard input.",
    ),
]
SecretStdin = Annotated[
    bool,
    typer.Option(
        "--client-secret-stdin", help="Read the client secret from the first line of standard input."
    ),
]
WebhookSecretStdin = Annotated[
    bool,
    typer.Option(
        "--webhook-secret-stdin",
        help="Read the app's webhook secret (App Center, Webhooks) from standard input: the first "
        "line, or the second with --client-secret-stdin. exactmate flow serve checks Exact's "
        "notifications with it.",
    ),
]
DivisionOpt = Annotated[
    int | None, typer.Option(help="Also check access to this division (default: the current one).", min=1)
]
FormatOpt = Annotated[Format, typer.Option("--format", help="Output format.")]
CustomHostOpt = Annotated[
    bool,
    typer.Option(
        "--allow-custom-host",
        help="Accept a server URL that is neither Exact's nor this machine's (a proxy in front of "
        "Exact): the client secret is sent there.",
    ),
]

_CAUSE_ERRORS: dict[str, type[errors.ExactmateError]] = {  # by the name of a connect.Cause
    "UNREACHABLE": errors.APIConnectionError,
    "NEEDS_REAUTHORIZATION": errors.ReauthorizationRequired,
    "NO_DIVISION_ACCESS": errors.ForbiddenError,
    "SCOPE_MISSING": errors.ForbiddenError,
    "RATE_LIMITED": errors.RateLimitError,
    "EXACT_ERROR": errors.APIStatusError,
}


def exit_code_for_cause(cause: Cause | None) -> int:
    """The exit code of a failed test: that of the error class its cause corresponds to."""
    cls = _CAUSE_ERRORS.get(cause.name, errors.AuthError) if cause else errors.ExactmateError
    return next((code for klass, code in EXIT_CODES if issubclass(cls, klass)), 1)


# -- plumbing ----------------------------------------------------------------------------------------


@contextmanager
def _opened(ctx: typer.Context) -> Iterator[Vault]:
    from exactmate.vault import Vault

    with Vault.open(context_of(ctx).settings) as vault:
        yield vault


def _connector(ctx: typer.Context, vault: Vault, no_browser: bool) -> Connector:
    from exactmate.connect import Connector, TerminalConsent

    consent = TerminalConsent(
        no_browser=no_browser,
        read_line=lambda: sys.stdin.readline(),
        read_hidden=read_hidden,
        show_url=typer.echo,
        say=lambda message: typer.echo(message, err=True),
    )
    return Connector(vault, settings=context_of(ctx).settings, consent=consent)


def _secret(from_stdin: bool) -> str:
    """The client secret: first line of standard input, or a hidden prompt."""
    if from_stdin:
        value = sys.stdin.readline().strip()
        if not value:
            raise ValidationError(
                "no client secret on standard input",
                hint="pipe it in, e.g. printf '%s\\n' \"$SECRET\" | exactmate vault add …",
            )
        return value
    return read_hidden("Client secret", prompt_when_piped=True).strip()


def _webhook_secret(from_stdin: bool) -> str | None:
    """The webhook secret from the next line of standard input, when asked for."""
    if not from_stdin:
        return None
    value = sys.stdin.readline().strip()
    if not value:
        raise ValidationError(
            "no webhook secret on standard input",
            hint="pipe it in, e.g. printf '%s\\n' \"$WEBHOOK_SECRET\" | exactmate vault edit NAME "
            "--webhook-secret-stdin",
        )
    return value


def _when(ts: float | None) -> str:
    return utc(ts).strftime("%Y-%m-%d %H:%M UTC") if ts is not None else "never"


def _print_result(result: ConnectCheck, fmt: Format) -> None:
    if fmt is Format.json:
        typer.echo(json.dumps(result.to_dict(), indent=2))
        return
    mark, colour = ("OK", typer.colors.GREEN) if result.ok else ("FAILED", typer.colors.RED)
    typer.secho(f"Test Connect {mark}: {result.summary}", fg=colour)
    if result.cause:
        typer.echo(f"  cause: {result.cause}")
    for line in result.details:
        typer.echo(f"  {line}")
    for warning in result.warnings:
        typer.secho(f"  warning: {warning}", fg=typer.colors.YELLOW)
    if result.hint:
        typer.echo(f"  fix: {result.hint}")


def _finish_save(outcome: SaveResult, fmt: Format) -> None:
    if fmt is Format.json:
        typer.echo(json.dumps(outcome.to_dict(), indent=2))
    else:
        if outcome.test is not None:
            _print_result(outcome.test, fmt)
        colour = typer.colors.GREEN if outcome.saved else typer.colors.RED
        typer.secho(outcome.note, fg=colour)  # complete already: formatting it again broke on braces
    if not outcome.saved:
        raise typer.Exit(exit_code_for_cause(outcome.test.cause if outcome.test else None))


# -- commands ----------------------------------------------------------------------------------------


@app.command()
def add(
    ctx: typer.Context,
    name: NameArg,
    server_url: Annotated[
        str,
        typer.Option(help="Exact's country host (https://start.exactonline.nl, or nl/be/de/uk/us/es/fr)."),
    ],
    client_id: Annotated[str, typer.Option(help="The app's Client ID from Exact's App Center.")],
    auth_type: Annotated[str, typer.Option(help=f"One of: {', '.join(AUTH_TYPES)}.")] = AUTH_TYPES[0],
    redirect_uri: Annotated[
        str, typer.Option(help="The redirect URI registered for the app.")
    ] = DEFAULT_REDIRECT_URI,
    client_secret_stdin: SecretStdin = False,
    webhook_secret_stdin: WebhookSecretStdin = False,
    skip_test: Annotated[
        bool, typer.Option("--skip-test", help="Save without Test Connect (no sign-in, nothing checked).")
    ] = False,
    no_browser: NoBrowser = False,
    default: Annotated[
        bool | None, typer.Option("--default/--no-default", help="Make it the default credential.")
    ] = None,
    division: DivisionOpt = None,
    allow_custom_host: CustomHostOpt = False,
    fmt: FormatOpt = Format.text,
) -> None:
    """Connect & Create: test the values (signing in to Exact) and save them only if the test succeeds."""
    secret = _secret(client_secret_stdin)
    hook = _webhook_secret(webhook_secret_stdin)
    with _opened(ctx) as vault:
        values = vault.new_values(
            name,
            server_url=server_url,
            client_id=client_id,
            client_secret=secret,
            auth_type=auth_type,
            redirect_uri=redirect_uri,
            allow_custom_host=allow_custom_host,
            webhook_secret=hook,
        )
        outcome = _connector(ctx, vault, no_browser).create(
            values, make_default=default, skip_test=skip_test, division=division
        )
    _finish_save(outcome, fmt)


@app.command("list")
def list_(
    ctx: typer.Context,
    search: Annotated[
        str | None,
        typer.Argument(help="Only credentials whose name, server, client ID, type or status contain this."),
    ] = None,
    fmt: Annotated[ListFormat, typer.Option("--format", help="Output format.")] = ListFormat.table,
) -> None:
    """List the credentials (nothing is decrypted)."""
    found: list[Credential] = []
    if not no_database_yet(ctx):
        with _opened(ctx) as vault:
            found = vault.list(search)
    if fmt is ListFormat.json:
        typer.echo(json.dumps([c.to_dict() for c in found], indent=2))
        return
    if not found:
        typer.echo(
            "No credentials match." if search else "No credentials yet: add one with exactmate vault add"
        )
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title="Application Credentials")
    for column in ("Name", "Default", "Status", "Server URL", "Client ID", "Type", "Last test"):
        fixed = column in ("Default", "Status", "Type")
        table.add_column(column, overflow="fold", no_wrap=fixed)
    for c in found:
        status = c.status_label if c.status != "needs_reauthorization" else f"[bold red]{c.status_label}[/]"
        last = f"{c.last_test_label} {utc(c.last_test_at):%Y-%m-%d}" if c.last_test_at else "never"
        table.add_row(
            _plain(c.name),
            "yes" if c.is_default else "",
            status,
            _plain(c.server_url),
            _plain(c.client_id),
            c.auth_type,
            last,
        )
    Console().print(table)


def _plain(text: str) -> str:
    from rich.markup import escape

    return escape(text)


@app.command()
def show(ctx: typer.Context, name: NameArg, fmt: FormatOpt = Format.text) -> None:
    """Show one credential (never its secret)."""
    with _opened(ctx) as vault:
        credential = vault.get(name)
    if fmt is Format.json:
        typer.echo(json.dumps(credential.to_dict(), indent=2))
        return
    for label, value in _show_rows(credential):
        typer.echo(f"{label:<20} {value}")


def _show_rows(c: Credential) -> list[tuple[str, str]]:
    last = "never" if c.last_test_at is None else f"{c.last_test_label} at {_when(c.last_test_at)}"
    rows = [
        ("Connector Name", c.name),
        ("Default", "yes" if c.is_default else "no"),
        ("Status", c.status_label + (f" ({c.status_reason})" if c.status_reason else "")),
        ("Authentication Type", c.auth_type),
        ("Server URL", c.server_url),
        ("Client ID", c.client_id),
        ("Client Secret", "(stored encrypted; never shown)"),
        ("Webhook Secret", "(stored encrypted; never shown)" if c.has_webhook_secret else "none"),
        ("Redirect URI", c.redirect_uri),
        ("Tokens", f"issued {_when(c.tokens_issued_at)}" if c.has_tokens else "none"),
        ("Last test", last),
    ]
    if c.last_test_message:
        rows.append(("Last test result", c.last_test_message))
    return rows


@app.command("default")
def default_(ctx: typer.Context, name: NameArg) -> None:
    """Make a credential the default one (used when an action names none)."""
    with _opened(ctx) as vault:
        credential = vault.set_default(name)
    typer.echo(f"{credential.name} is now the default credential.")


@app.command()
def edit(
    ctx: typer.Context,
    name: NameArg,
    new_name: Annotated[str | None, typer.Option("--name", help="A new Connector Name.")] = None,
    server_url: Annotated[str | None, typer.Option(help="A new Server URL.")] = None,
    client_id: Annotated[str | None, typer.Option(help="A new Client ID.")] = None,
    auth_type: Annotated[str | None, typer.Option(help=f"One of: {', '.join(AUTH_TYPES)}.")] = None,
    redirect_uri: Annotated[str | None, typer.Option(help="A new redirect URI.")] = None,
    client_secret_stdin: SecretStdin = False,
    webhook_secret_stdin: WebhookSecretStdin = False,
    new_secret: Annotated[
        bool, typer.Option("--new-secret", help="Ask for a new client secret (hidden prompt).")
    ] = False,
    skip_test: Annotated[bool, typer.Option("--skip-test", help="Save without Test Connect.")] = False,
    no_browser: NoBrowser = False,
    division: DivisionOpt = None,
    allow_custom_host: CustomHostOpt = False,
    fmt: FormatOpt = Format.text,
) -> None:
    """Change a credential; new connection values are saved only after a successful test.

    The test signs in again with the new values; an unchanged secret is tested with the stored one.
    A rename alone needs no test.
    """
    secret = _secret(client_secret_stdin) if client_secret_stdin or new_secret else None
    hook = _webhook_secret(webhook_secret_stdin)
    if all(v is None for v in (new_name, server_url, client_id, auth_type, redirect_uri, secret, hook)):
        raise ValidationError(
            "nothing to change",
            hint="pass --name, --server-url, --client-id, --auth-type, --redirect-uri, "
            "--new-secret, --client-secret-stdin or --webhook-secret-stdin",
        )
    with _opened(ctx) as vault:
        change = vault.plan_edit(
            name,
            new_name=new_name,
            server_url=server_url,
            client_id=client_id,
            auth_type=auth_type,
            redirect_uri=redirect_uri,
            client_secret=secret,
            allow_custom_host=allow_custom_host,
            webhook_secret=hook,
        )
        outcome = _connector(ctx, vault, no_browser).edit(change, skip_test=skip_test, division=division)
    _finish_save(outcome, fmt)


@app.command()
def test(
    ctx: typer.Context,
    name: NameArg,
    division: DivisionOpt = None,
    no_browser: NoBrowser = False,
    fmt: FormatOpt = Format.text,
) -> None:
    """Test Connect: sign in if there are no tokens, call current/Me, report or diagnose."""
    with _opened(ctx) as vault:
        result = _connector(ctx, vault, no_browser).test(name, division=division)
    _print_result(result, fmt)
    if not result.ok:
        raise typer.Exit(exit_code_for_cause(result.cause))


@app.command()
def connect(
    ctx: typer.Context,
    name: NameArg,
    no_browser: NoBrowser = False,
    division: DivisionOpt = None,
    fmt: FormatOpt = Format.text,
) -> None:
    """Sign in to Exact again (new tokens), then test."""
    with _opened(ctx) as vault:
        result = _connector(ctx, vault, no_browser).connect(name, division=division)
    _print_result(result, fmt)
    if not result.ok:
        raise typer.Exit(exit_code_for_cause(result.cause))


@app.command()
def disconnect(ctx: typer.Context, name: NameArg) -> None:
    """Forget the credential's tokens; the credential stays (connect again to sign in)."""
    with _opened(ctx) as vault:
        credential = _connector(ctx, vault, no_browser=True).disconnect(name)
    typer.echo(
        f"{credential.name} is disconnected: its tokens were deleted here. To withdraw the app's access "
        "in Exact itself, revoke it in Exact Online."
    )


@app.command()
def remove(
    ctx: typer.Context,
    name: NameArg,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask.")] = False,
) -> None:
    """Delete a credential and its tokens."""
    with _opened(ctx) as vault:
        credential = vault.get(name)
        if not yes and not typer.confirm(f"Remove the credential {credential.name!r} and its tokens?"):
            raise typer.Exit(1)
        vault.remove(credential.name)
    typer.echo(f"Removed {credential.name}.")


@app.command("rotate-key")
def rotate_key(
    ctx: typer.Context,
    resume: Annotated[
        bool, typer.Option("--resume", help="Only finish an interrupted rotation (adds no key).")
    ] = False,
) -> None:
    """Add a new master key to the key file and re-encrypt every secret and token under it."""

    def progress(name: str, done: int, total: int) -> None:
        typer.echo(f"  [{done}/{total}] {name}", err=True)

    with _opened(ctx) as vault:
        report = vault.reencrypt(progress) if resume else vault.rotate_key(progress)
    typer.echo(
        f"Re-encrypted {report.secrets} secret(s) of {report.credentials} credential(s) under key "
        f"{report.key_id}."
    )
    if report.pruned:
        typer.echo(f"Removed the retired key(s) no secret uses any more: {', '.join(report.pruned)}.")

"""``exactmate emulator``: run the built-in Exact Online emulator.

Start-up stays fast for every other command: the emulator's server stack (Starlette, uvicorn) is
imported inside ``serve`` only.
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Annotated
from urllib.parse import urlsplit

import typer

from exactmate.emulator import config as emulator_config
from exactmate.emulator.config import EmulatorConfig

app = typer.Typer(help="Run the built-in Exact Online emulator.", no_args_is_help=True)


def catalogue_scopes() -> dict[str, str]:
    """The OAuth scope labels the catalogue knows, by lower-case name."""
    text = resources.files("exactmate.data").joinpath("catalogue.json").read_text(encoding="utf-8")
    endpoints = json.loads(text)["endpoints"].values()
    return {e["scope"].lower(): e["scope"] for e in endpoints if e.get("scope")}


def _scopes(values: list[str] | None) -> tuple[str, ...] | None:
    if not values:
        return None
    known = catalogue_scopes()
    chosen: list[str] = []
    for value in values:
        for name in (part.strip() for part in value.split(",")):
            if not name:
                continue
            if name.lower() not in known:
                raise typer.BadParameter(
                    f"unknown scope {name!r}; known scopes: {', '.join(sorted(known.values()))}",
                    param_hint="--scopes",
                )
            chosen.append(known[name.lower()])
    return tuple(dict.fromkeys(chosen))


def _redirect_uris(values: list[str] | None) -> tuple[str, ...]:
    for uri in values or []:
        parts = urlsplit(uri)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.fragment:
            raise typer.BadParameter(
                f"{uri!r} is not an absolute http(s) URL without a fragment, "
                "e.g. http://127.0.0.1:8765/callback",
                param_hint="--redirect-uri",
            )
    return tuple(dict.fromkeys(values or []))


def build_config(
    *,
    host: str,
    port: int,
    records: int,
    latency_ms: float,
    minutely_limit: int,
    daily_limit: int,
    window_seconds: float,
    token_seconds: int,
    refresh_guard_seconds: float,
    client_id: str,
    client_secret: str,
    redirect_uri: list[str] | None,
    scopes: list[str] | None,
    divisions: int,
    webhook_secret: str,
) -> EmulatorConfig:
    """The ``EmulatorConfig`` the ``serve`` options describe (validated)."""
    if not client_id.strip() or not client_secret:
        raise typer.BadParameter("the client id and secret must not be empty")
    return EmulatorConfig(
        host=host,
        port=port,
        records=records,
        latency_ms=latency_ms,
        minutely_limit=minutely_limit,
        daily_limit=daily_limit,
        window_seconds=window_seconds,
        token_seconds=token_seconds,
        refresh_guard_seconds=refresh_guard_seconds,
        client_id=client_id.strip(),
        client_secret=client_secret,
        redirect_uris=_redirect_uris(redirect_uri),
        scopes=_scopes(scopes),
        divisions=divisions,
        webhook_secret=webhook_secret,
    )


def describe(config: EmulatorConfig) -> list[str]:
    """What ``serve`` prints before it starts: where to go and how to sign in."""
    base = config.base_url
    redirects = ", ".join(config.redirect_uris) or "any http(s) URI on 127.0.0.1 or localhost"
    lines = [
        f"Exact Online emulator on {base}",
        f"  OAuth2:          {base}/api/oauth2/auth  and  {base}/api/oauth2/token",
        f"  REST:            {base}/api/v1/{{division}}/{{service}}/{{Endpoint}}",
        f"  Client id:       {config.client_id}",
        f"  Client secret:   {config.client_secret}",
        f"  Redirect URIs:   {redirects}",
        f"  Scopes:          {', '.join(config.scopes) if config.scopes else 'all'}",
        f"  Demo user:       {emulator_config.DEMO_USERNAME}  password: {emulator_config.DEMO_PASSWORD}",
        f"  Divisions:       {', '.join(str(d) for d in config.accessible_divisions)}"
        f"  (no access: {config.forbidden_division})",
        f"  Limits:          {config.minutely_limit} calls per {config.window_seconds:g} s, "
        f"{config.daily_limit} per day; tokens live {config.token_seconds} s",
    ]
    if config.webhook_secret == emulator_config.DEFAULT_WEBHOOK_SECRET:
        lines.append(f"  Webhook secret:  {config.webhook_secret}")
    lines.append(f"  Control API:     {base}/_emulator/stats, /reset, /faults, /clock")
    return lines


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 8555,
    records: Annotated[
        int, typer.Option(min=0, help="Size of the demo data (accounts and time transactions).")
    ] = 1_000,
    latency_ms: Annotated[float, typer.Option(min=0, help="Delay added to every REST call.")] = 0.0,
    minutely_limit: Annotated[int, typer.Option(min=1, help="Calls per minute window.")] = 60,
    daily_limit: Annotated[int, typer.Option(min=1, help="Calls per day (resets 00:00 UTC).")] = 5_000,
    window_seconds: Annotated[
        float, typer.Option(min=0.001, help="Length of the minutely window in seconds.")
    ] = 60.0,
    token_seconds: Annotated[int, typer.Option(min=1, help="Access-token lifetime in seconds.")] = 600,
    refresh_guard_seconds: Annotated[
        float, typer.Option(min=0, help="A refresh sooner than this after the last one is refused.")
    ] = 570.0,
    client_id: Annotated[
        str, typer.Option(help="Client id of the registered demo app.")
    ] = emulator_config.DEFAULT_CLIENT_ID,
    client_secret: Annotated[
        str, typer.Option(help="Client secret of the registered demo app.")
    ] = emulator_config.DEFAULT_CLIENT_SECRET,
    redirect_uri: Annotated[
        list[str] | None,
        typer.Option(help="Accepted redirect URI (repeatable). Default: any on 127.0.0.1/localhost."),
    ] = None,
    scopes: Annotated[
        list[str] | None,
        typer.Option(help="The app's scopes, e.g. 'Projects billing' (repeatable or comma-separated)."),
    ] = None,
    divisions: Annotated[int, typer.Option(min=1, max=50, help="Number of accessible divisions.")] = 2,
    webhook_secret: Annotated[
        str, typer.Option(help="Key of the webhook HMAC signatures.")
    ] = emulator_config.DEFAULT_WEBHOOK_SECRET,
) -> None:
    """Serve a faithful local Exact Online until interrupted."""
    config = build_config(
        host=host,
        port=port,
        records=records,
        latency_ms=latency_ms,
        minutely_limit=minutely_limit,
        daily_limit=daily_limit,
        window_seconds=window_seconds,
        token_seconds=token_seconds,
        refresh_guard_seconds=refresh_guard_seconds,
        client_id=client_id,
        client_secret=client_secret,
        redirect_uri=redirect_uri,
        scopes=scopes,
        divisions=divisions,
        webhook_secret=webhook_secret,
    )
    for line in describe(config):
        typer.echo(line)
    from exactmate.emulator import server  # the server stack loads only when serving

    server.run(config)

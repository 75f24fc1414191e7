"""``exactmate ui``: serve the web UI (the Vault page and the action forms) and open it.

The UI also serves the OAuth callback at ``/oauth/callback``, so with the default address it answers
the credentials' default redirect URI, ``http://127.0.0.1:8400/oauth/callback``. The web stack is
imported only when the command runs, so every other command starts fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from exactmate.cli.context import context_of


def ui(
    ctx: typer.Context,
    host: Annotated[
        str,
        typer.Option(
            help="Address to listen on. Anything but 127.0.0.1/localhost needs EXACTMATE_UI_TOKEN "
            "(else a new access token is made at each start; the printed sign-in link carries it in)."
        ),
    ] = "127.0.0.1",
    port: Annotated[
        int,
        typer.Option(min=1, max=65535, help="Port; the redirect URI registered in Exact must use it too."),
    ] = 8400,
    no_browser: Annotated[bool, typer.Option("--no-browser", help="Only print the address.")] = False,
    certfile: Annotated[
        Path | None, typer.Option(help="PEM certificate: serve https (with --keyfile). See docs/deploy.md.")
    ] = None,
    keyfile: Annotated[Path | None, typer.Option(help="PEM private key of --certfile.")] = None,
) -> None:
    """Serve the web UI: Management → Vault and the actions, with Test Connect in the browser."""
    from exactmate.web import serve_ui

    def announce(url: str, sign_in: str) -> None:
        typer.echo(f"exactmate UI: {url}  (OAuth callback: {url}oauth/callback; Ctrl+C stops it)")
        typer.echo(f"Sign in (this link works once): {sign_in}")

    serve_ui(
        context_of(ctx).settings,
        host,
        port,
        open_browser=not no_browser,
        announce=announce,
        certfile=str(certfile) if certfile else None,
        keyfile=str(keyfile) if keyfile else None,
    )

"""Opening the user's browser (for the OAuth consent, or the web UI) without exactmate's secrets.

A browser started by ``webbrowser`` inherits the environment of the process that starts it, and
lives on after it: ``EXACTMATE_MASTER_KEY`` (which opens every stored secret) and
``EXACTMATE_UI_TOKEN`` have no business in it, or in whatever it starts in turn. They are taken out
of the environment for the moment the browser is started, and put back at once.
"""

from __future__ import annotations

import os
import threading
import webbrowser
from collections.abc import Iterator
from contextlib import contextmanager

SECRET_VARIABLES = ("EXACTMATE_MASTER_KEY", "EXACTMATE_UI_TOKEN")
_environment = threading.Lock()  # one browser start at a time changes os.environ


def open_browser(url: str) -> bool:
    """``webbrowser.open(url)`` in an environment without ``SECRET_VARIABLES``; whether it worked."""
    with _environment, _without(SECRET_VARIABLES):
        return webbrowser.open(url)


@contextmanager
def _without(names: tuple[str, ...]) -> Iterator[None]:
    saved = {name: os.environ.pop(name) for name in names if name in os.environ}
    try:
        yield
    finally:
        os.environ.update(saved)

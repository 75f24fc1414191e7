"""The browser exactmate starts does not inherit the master key or the UI token."""

from __future__ import annotations

import os
import webbrowser

import pytest

from exactmate.browser import open_browser


def test_the_browser_starts_without_exactmates_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EXACTMATE_MASTER_KEY", "c2VjcmV0")
    monkeypatch.setenv("EXACTMATE_UI_TOKEN", "ui-secret")
    monkeypatch.setenv("EXACTMATE_HOME", "/somewhere")
    seen: list[dict[str, str]] = []

    def browser(url: str) -> bool:
        seen.append(dict(os.environ))
        return True

    monkeypatch.setattr(webbrowser, "open", browser)
    assert open_browser("http://127.0.0.1:8400/")
    [environment] = seen
    assert "EXACTMATE_MASTER_KEY" not in environment and "EXACTMATE_UI_TOKEN" not in environment
    assert environment["EXACTMATE_HOME"] == "/somewhere"  # only the secrets are held back
    assert os.environ["EXACTMATE_MASTER_KEY"] == "c2VjcmV0"  # put back afterwards
    assert os.environ["EXACTMATE_UI_TOKEN"] == "ui-secret"

"""Values shown in error messages: recognisable, never the size of a response."""

from __future__ import annotations


def shorten(value: object) -> str:
    """``repr(value)`` cut to 60 characters, for error messages."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."

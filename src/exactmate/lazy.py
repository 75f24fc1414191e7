"""Names a package offers but imports on first use: a package's ``__getattr__`` (PEP 562).

``import exactmate`` (and ``exactmate.actions``, ``exactmate.vault``, ``exactmate.sync``) stays cheap
this way: a name is imported from its home module the first time it is asked for, then kept in the
package's namespace, so later look-ups skip the function.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from typing import Any


def on_first_use(package: str, homes: Mapping[str, str]) -> Callable[[str], Any]:
    """The ``__getattr__`` of ``package``, importing each name of ``homes`` from its home module."""

    def __getattr__(name: str) -> Any:
        home = homes.get(name)
        if home is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(home), name)
        setattr(sys.modules[package], name, value)  # later look-ups skip this function
        return value

    return __getattr__


__all__ = ["on_first_use"]

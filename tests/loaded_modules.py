"""Which modules a piece of Python leaves imported, run in a fresh interpreter: what the start-up
budget's tests (issue 17) check a command or a module does not load."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterable, Mapping

_MARK = "loaded modules:"


def loaded_after(script: str, names: Iterable[str], *, env: Mapping[str, str] | None = None) -> list[str]:
    """Those of ``names`` that ``script`` (run by a new interpreter) leaves imported, in their order.
    A name marked not importable (``None`` in ``sys.modules``) does not count."""
    wanted = tuple(names)
    found = f"','.join(n for n in {wanted!r} if _sys.modules.get(n))"
    report = f"\nimport sys as _sys\nprint({_MARK!r}, {found})\n"
    ran = subprocess.run(
        [sys.executable, "-c", script + report], capture_output=True, text=True, check=True, env=env
    )
    last = ran.stdout.strip().splitlines()[-1]
    assert last.startswith(_MARK), ran.stdout
    return [name for name in last[len(_MARK) :].strip().split(",") if name]

"""exactmate: connect workflow automation to Exact Online.

A credentials vault, the four actions (create and update project time transactions, delete any
endpoint's record by ID, list or get any endpoint), the ``exactmate`` command, a local web UI and a
faithful emulator of Exact Online.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]

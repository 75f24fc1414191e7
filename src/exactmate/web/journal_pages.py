"""History → Create journal: every entry claimed before it was sent, and what became of it.

Read-only: the rows of :func:`exactmate.actions.journal.journal_entries`, filtered by credential,
source and state, most recently changed first.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from exactmate.actions.journal import JOURNAL_STATES, JournalEntry, journal_entries
from exactmate.errors import ValidationError
from exactmate.web.context import open_store, ui
from exactmate.web.templating import render

router = APIRouter()

LIMITS = (50, 200, 1000)
"""The page sizes the list offers."""


@router.get("/journal", response_class=HTMLResponse)
def journal_list(
    request: Request, credential: str = "", source: str = "", state: str = "", limit: int = 50
) -> Response:
    """The journal's rows: source, row key, state, division, record key, last change (local time)."""
    filters = {"credential": credential, "source": source, "state": state}
    problem = None
    found: list[JournalEntry] = []
    try:
        with open_store(ui(request)) as store:
            found = journal_entries(
                store,
                credential=credential.strip() or None,
                source=source.strip() or None,
                state=state or None,
                limit=max(1, min(limit, LIMITS[-1])),
            )
    except ValidationError as exc:
        problem = str(exc)
    return render(
        request,
        "journal_list.html",
        section="journal",
        rows=found,
        filters=filters,
        limit=limit,
        limits=LIMITS,
        states=JOURNAL_STATES,
        problem=problem,
    )

"""Exit codes by error class: the one table the README documents."""

from __future__ import annotations

from exactmate import errors

# Most specific classes first: the first isinstance match wins.
EXIT_CODES: tuple[tuple[type[BaseException], int], ...] = (
    (errors.CatalogueError, 3),
    (errors.ValidationError, 3),
    (errors.ConfigError, 4),
    (errors.VaultError, 4),
    (errors.ReauthorizationRequired, 5),
    (errors.AuthError, 5),
    (errors.UnauthorizedError, 5),
    (errors.ForbiddenError, 6),
    (errors.NotFoundError, 7),
    (errors.RateLimitError, 8),
    (errors.BudgetExceeded, 8),
    (errors.APIConnectionError, 9),
    (errors.ServerError, 10),
    (errors.APIStatusError, 11),
    (errors.StoreError, 12),
    (errors.SecretBoxError, 12),
    (errors.ExactmateError, 1),
)


INCOMPLETE = 13
"""A batch that is not complete although nothing failed: entries pending (an answer was lost; rerun
after the time shown) or changed since they were booked (update them, or rebook)."""


INTERRUPTED = 130
"""Ctrl-C: the run stopped sending; what was in flight finished and is recorded, the rest not sent."""


def exit_code_for(exc: BaseException) -> int:
    for cls, code in EXIT_CODES:
        if isinstance(exc, cls):
            return code
    return 1

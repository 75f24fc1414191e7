"""exactmate: connect workflow automation to Exact Online.

A credentials vault, the four actions (create and update project time transactions, delete any
endpoint's record by ID, list or get any endpoint: ``list_records`` and ``get_record``), the
``exactmate`` command, a local web UI and a faithful emulator of Exact Online.

The front door offers what a script needs, from one import:

```python
import exactmate

with exactmate.ExactClient.from_credential("Acme NL") as exact:
    hours = exact.resource("project/TimeTransactions")
    for entry in hours.list(filter=exactmate.F("Quantity") > 4):
        ...
```

Names are imported on first use (a module ``__getattr__``), so ``import exactmate`` stays cheap and
importing the emulator or the command line does not pull in the client, the store or the web stack.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from exactmate.lazy import on_first_use

__version__ = "0.1.0"

if TYPE_CHECKING:  # what type checkers and editors see; at run time __getattr__ imports on demand
    from exactmate.actions import (
        create_time_transactions,
        delete_record,
        get_record,
        list_records,
        open_connection,
        run_test_connect,
        update_time_transaction,
    )
    from exactmate.client import ExactClient
    from exactmate.config import Settings
    from exactmate.errors import (
        APIConnectionError,
        APIStatusError,
        APITimeoutError,
        AuthError,
        BadRequestError,
        BudgetExceeded,
        CatalogueError,
        ConfigError,
        ConflictError,
        ExactmateError,
        ForbiddenError,
        MethodNotAllowedError,
        NotFoundError,
        RateLimitError,
        ReauthorizationRequired,
        SecretBoxError,
        ServerError,
        StoreError,
        UnauthorizedError,
        ValidationError,
        VaultError,
    )
    from exactmate.odata import F
    from exactmate.vault import Credential, Vault

_ERRORS = (
    "APIConnectionError",
    "APIStatusError",
    "APITimeoutError",
    "AuthError",
    "BadRequestError",
    "BudgetExceeded",
    "CatalogueError",
    "ConfigError",
    "ConflictError",
    "ExactmateError",
    "ForbiddenError",
    "MethodNotAllowedError",
    "NotFoundError",
    "RateLimitError",
    "ReauthorizationRequired",
    "SecretBoxError",
    "ServerError",
    "StoreError",
    "UnauthorizedError",
    "ValidationError",
    "VaultError",
)
_ACTIONS = (
    "create_time_transactions",
    "delete_record",
    "get_record",
    "list_records",
    "open_connection",
    "run_test_connect",
    "update_time_transaction",
)

# Where each public name lives: the one table the lazy import and the export test read.
_HOMES: dict[str, str] = {
    "ExactClient": "exactmate.client",
    "F": "exactmate.odata",
    "Settings": "exactmate.config",
    "Vault": "exactmate.vault",
    "Credential": "exactmate.vault",
    **dict.fromkeys(_ERRORS, "exactmate.errors"),
    **dict.fromkeys(_ACTIONS, "exactmate.actions"),
}

__all__ = ["__version__", *sorted(_HOMES)]


__getattr__ = on_first_use(__name__, _HOMES)


def __dir__() -> list[str]:
    return sorted({*globals(), *_HOMES})

"""Every error exactmate raises, grouped by cause.

```
ExactmateError
├── ConfigError                 bad settings or environment
├── ValidationError             bad input caught locally, before any call to Exact
│   └── CatalogueError          unknown endpoint, method the endpoint lacks, bad key
├── StoreError                  the local database cannot be used
├── SecretBoxError              a secret cannot be decrypted (missing key, tampered data)
├── VaultError                  credential storage: unknown or duplicate name, ...
├── AuthError                   tokens cannot be obtained or refreshed
│   └── ReauthorizationRequired the user must sign in again (old refresh token used, expired)
├── BudgetExceeded              refused locally to protect Exact's error budget
├── APIConnectionError          Exact could not be reached
│   └── APITimeoutError
└── APIStatusError              Exact answered with an error status
    ├── BadRequestError         400
    ├── UnauthorizedError       401
    ├── ForbiddenError          403
    ├── NotFoundError           404
    ├── MethodNotAllowedError   405
    ├── ConflictError           409
    ├── RateLimitError          429 (also raised locally for an exhausted daily limit)
    └── ServerError             5xx
```

Messages never carry secrets: tokens, client secrets and authorization codes stay out of them.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Literal


class ExactmateError(Exception):
    """Root of every error exactmate raises on purpose."""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


class ConfigError(ExactmateError):
    """Settings or environment variables are missing or malformed."""


class ValidationError(ExactmateError):
    """Input that was refused locally, so it cost no call to Exact.

    ``problems`` lists every problem found, so a user can fix them all at once.
    """

    def __init__(self, message: str, *, problems: Sequence[str] = (), hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.problems = list(problems)

    def __str__(self) -> str:
        base = super().__str__()
        if not self.problems:
            return base
        return base + "\n" + "\n".join(f"  - {p}" for p in self.problems)


class CatalogueError(ValidationError):
    """An endpoint, method, field or key the catalogue does not allow."""


class StoreError(ExactmateError):
    """The local database cannot be opened, migrated or written."""


class SecretBoxError(ExactmateError):
    """A secret cannot be encrypted or decrypted (missing key, wrong key, tampered ciphertext)."""


class VaultError(ExactmateError):
    """Credential storage refused an operation (unknown or duplicate name, bad value)."""


def connect_command(name: str | None) -> str:
    """The command that signs a credential in again, quoted so it works when pasted."""
    return f"exactmate vault connect {shlex.quote(name) if name else 'NAME'}"


def local_time(moment: datetime) -> str:
    """A moment as the user reads it: local time to the second, with the date when not today."""
    local = moment.astimezone()
    today = datetime.now(local.tzinfo).date()
    return local.strftime("%H:%M:%S" if local.date() == today else "%Y-%m-%d %H:%M:%S")


class AuthError(ExactmateError):
    """Tokens could not be obtained or refreshed."""


class ReauthorizationRequired(AuthError):
    """The credential's refresh token is gone for good; the user must connect again in a browser."""

    def __init__(self, message: str, *, credential: str | None = None) -> None:
        who = f"credential {credential!r}" if credential else "the credential"
        super().__init__(message, hint=f"re-authorise {who}: {connect_command(credential)}")
        self.credential = credential


class BudgetExceeded(ExactmateError):
    """Refused locally: one more failed call here could get the app blocked by Exact for an hour."""

    def __init__(self, message: str, *, reopens_at: datetime, endpoint: str, division: int | None) -> None:
        super().__init__(message, hint=f"calls to {endpoint} reopen at {local_time(reopens_at)}")
        self.reopens_at = reopens_at
        self.endpoint = endpoint
        self.division = division


class APIConnectionError(ExactmateError):
    """Exact Online could not be reached (DNS, refused connection, dropped connection)."""


class APITimeoutError(APIConnectionError):
    """Exact Online did not answer in time."""


class APIStatusError(ExactmateError):
    """Exact answered with an error status; carries Exact's own message and ``Reason`` header."""

    status_code: int = 0

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        reason: str | None = None,
        method: str | None = None,
        url: str | None = None,
        headers: Mapping[str, str] | None = None,
        exact_message: str | None = None,
        hint: str | None = None,
    ) -> None:
        detail = message if not reason else f"{message} (Reason: {reason})"
        super().__init__(detail, hint=hint)
        self.status_code = status_code
        self.exact_message = message if exact_message is None else exact_message
        self.reason = reason
        self.method = method
        self.url = url
        self.headers = dict(headers or {})


class BadRequestError(APIStatusError):
    """400: Exact refused the request as invalid."""


class UnauthorizedError(APIStatusError):
    """401: the access token is missing, expired or invalid."""


class ForbiddenError(APIStatusError):
    """403: no right, no division access or an application scope not granted."""


class NotFoundError(APIStatusError):
    """404: unknown endpoint or key."""


class MethodNotAllowedError(APIStatusError):
    """405: the endpoint does not support the method."""


class ConflictError(APIStatusError):
    """409: the request conflicts with the record's state."""


class RateLimitError(APIStatusError):
    """429, or a local refusal before the daily limit would be crossed.

    ``scope`` says which limit: ``minutely``, ``daily``, ``error_budget`` or ``token``; ``reset_at``
    says when it lifts, when known.
    """

    def __init__(
        self,
        message: str,
        *,
        scope: Literal["minutely", "daily", "error_budget", "token", "unknown"],
        reset_at: datetime | None,
        status_code: int = 429,
        reason: str | None = None,
        method: str | None = None,
        url: str | None = None,
        headers: Mapping[str, str] | None = None,
        exact_message: str | None = None,
        hint: str | None = None,
    ) -> None:
        if hint is None and reset_at is not None:
            hint = f"calls reopen at {local_time(reset_at)}"
        super().__init__(
            message,
            status_code=status_code,
            reason=reason,
            method=method,
            url=url,
            headers=headers,
            exact_message=exact_message,
            hint=hint,
        )
        self.scope = scope
        self.reset_at = reset_at


class ServerError(APIStatusError):
    """5xx: Exact failed to handle the request."""


STATUS_ERRORS: dict[int, type[APIStatusError]] = {
    400: BadRequestError,
    401: UnauthorizedError,
    403: ForbiddenError,
    404: NotFoundError,
    405: MethodNotAllowedError,
    409: ConflictError,
}


def status_error_class(status_code: int) -> type[APIStatusError]:
    """The error class for an HTTP status (429 is built separately: it needs scope and reset)."""
    if status_code >= 500:
        return ServerError
    return STATUS_ERRORS.get(status_code, APIStatusError)

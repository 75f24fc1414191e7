"""``MemoryTokens``: the token source of a Test Connect of values not stored yet.

Connecting needs the first pair before anything is stored (Connect & Create saves a credential only
with the tokens its test obtained); the token endpoint itself is ``exactmate.auth``'s.
"""

from __future__ import annotations

from exactmate.auth import TokenSet
from exactmate.errors import AuthError


class MemoryTokens:
    """A token source over a pair not stored yet, for testing values before they are saved.

    The pair was issued moments ago, so a 401 cannot mean "expired": refreshing would be refused as
    too early anyway, and the refusal is the answer.
    """

    def __init__(self, tokens: TokenSet) -> None:
        self._tokens = tokens

    def __repr__(self) -> str:
        return "MemoryTokens(<hidden>)"

    def access_token(self) -> str:
        return self._tokens.access_token

    def refresh_after_401(self, rejected: str) -> str:
        raise AuthError(
            "Exact refused the access token it had just issued",
            hint="connect again; if it keeps failing, check the app's registration in Exact's App Center",
        )

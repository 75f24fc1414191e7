"""Test Connects in flight: what was tested, the sign-in they wait for, and what they found.

A Test Connect in the browser needs the user's consent on Exact's sign-in page, which returns to
``/oauth/callback`` in another window, so the test outlives the request that started it. Each one is
kept here, in memory only (the client secret and the tokens it obtained never touch the disk before
Connect & Create saves them), for 15 minutes at most, and only for the browser that started it.

A test remembers a keyed fingerprint of every value it tested, secret included (the name aside:
it is not part of the connection): Connect & Create recomputes it from the form and saves only when
both match, so what is saved is exactly what was tested, whatever the page's script did or did not
do.
"""

from __future__ import annotations

import json
import secrets
import threading
from dataclasses import dataclass, field
from typing import Any, Literal

from exactmate.clock import Clock
from exactmate.web.security import Signer

TestStatus = Literal["consent", "running", "ok", "failed"]
Purpose = Literal["test", "reauthorize"]

TEST_LIFETIME = 900.0
"""Seconds a Test Connect stays usable: time enough to sign in, not enough to forget it open."""
MAX_PENDING = 100


@dataclass(frozen=True)
class CandidateValues:
    """The values a test ran with. ``secret`` and ``refresh_token`` stay out of every repr."""

    name: str
    auth_type: str
    server_url: str
    client_id: str
    redirect_uri: str
    secret: str = field(repr=False)
    refresh_token: str = field(default="", repr=False)
    credential_id: str = ""  # the credential being edited or re-authorised; "" for a new one
    allow_custom_host: bool = False  # a server URL neither Exact's nor this machine's, asked for

    def fingerprint(self, signer: Signer) -> str:
        """A keyed hash of every value the connection depends on: equal exactly when they are equal.

        The name is not one of them: renaming after a successful test needs no new sign-in."""
        values = [
            self.auth_type,
            self.server_url,
            self.client_id,
            self.redirect_uri,
            self.secret,
            self.refresh_token,
            self.credential_id,
            self.allow_custom_host,
        ]
        return signer.sign("tested-values", json.dumps(values, ensure_ascii=False))


@dataclass
class PendingTest:
    """One Test Connect (or re-authorisation) and, once finished, its outcome."""

    id: str
    browser: str = field(repr=False)
    purpose: Purpose
    values: CandidateValues
    fingerprint: str = field(repr=False)
    state: str = field(repr=False)
    created_at: float
    candidate_id: str = ""  # the credential id the test runs under (the new credential's, once saved)
    status: TestStatus = "consent"
    outcome: Any = None
    tokens: Any = field(default=None, repr=False)


class PendingTests:
    """Test Connects by id (for the page that polls) and by OAuth ``state`` (for the callback)."""

    def __init__(self, clock: Clock, *, lifetime: float = TEST_LIFETIME, limit: int = MAX_PENDING) -> None:
        self._clock = clock
        self._lifetime = lifetime
        self._limit = limit
        self._tests: dict[str, PendingTest] = {}
        self._lock = threading.Lock()

    def start(
        self,
        *,
        browser: str,
        purpose: Purpose,
        values: CandidateValues,
        signer: Signer,
        state: str = "",
        candidate_id: str = "",
    ) -> PendingTest:
        """Register a new test; the oldest are dropped beyond the limit. ``state`` empty: the test
        needs no sign-in (it runs at once)."""
        test = PendingTest(
            id=secrets.token_urlsafe(18),
            browser=browser,
            purpose=purpose,
            values=values,
            fingerprint=values.fingerprint(signer),
            state=state,
            created_at=self._clock.now(),
            candidate_id=candidate_id,
        )
        with self._lock:
            self._purge()
            self._tests[test.id] = test
            while len(self._tests) > self._limit:
                oldest = min(self._tests.values(), key=lambda t: t.created_at)
                del self._tests[oldest.id]
        return test

    def get(self, test_id: str, browser: str) -> PendingTest | None:
        """The test ``test_id`` if this browser started it and it has not expired."""
        with self._lock:
            self._purge()
            test = self._tests.get(test_id)
        if test is None or not secrets.compare_digest(test.browser, browser):
            return None
        return test

    def by_state(self, state: str) -> PendingTest | None:
        """The test waiting for the sign-in that carries ``state``.

        The callback may arrive without this browser's cookies (another browser, a strict cookie
        policy); the unguessable state is what ties it to the test.
        """
        with self._lock:
            self._purge()
            for test in self._tests.values():
                if test.status == "consent" and test.state and secrets.compare_digest(test.state, state):
                    return test
        return None

    def finish(self, test: PendingTest, status: TestStatus, outcome: Any, tokens: Any = None) -> None:
        with self._lock:
            test.status = status
            test.outcome = outcome
            test.tokens = tokens

    def claim(self, test: PendingTest) -> bool:
        """Move a test from waiting to running; False when another request already did."""
        with self._lock:
            if test.status != "consent":
                return False
            test.status = "running"
            return True

    def drop(self, test: PendingTest) -> None:
        with self._lock:
            self._tests.pop(test.id, None)

    def _purge(self) -> None:
        horizon = self._clock.now() - self._lifetime
        for test_id in [t.id for t in self._tests.values() if t.created_at < horizon]:
            del self._tests[test_id]

"""The emulator's settings: one frozen object, built from `exactmate emulator serve` options or by tests."""

from __future__ import annotations

from dataclasses import dataclass, field

DEFAULT_CLIENT_ID = "7f0c5a8e-2d4b-4c61-9a3e-5b1d2c3e4f50"
DEFAULT_CLIENT_SECRET = "emulator-demo-secret"
DEFAULT_WEBHOOK_SECRET = "emulator-webhook-secret"

# The demo user who signs in on the consent page.
DEMO_USER_ID = "3e8d6c1a-5b7f-4a92-8c0d-1f2e3a4b5c6d"
DEMO_USERNAME = "demo@exactmate.test"
DEMO_PASSWORD = "demo"
DEMO_FULL_NAME = "Dana Demo"

FIRST_DIVISION = 100001


@dataclass(frozen=True)
class EmulatorConfig:
    """Everything that shapes the emulator's behaviour. Defaults are Exact Online's own figures."""

    host: str = "127.0.0.1"
    port: int = 8555
    records: int = 1_000
    latency_ms: float = 0.0
    minutely_limit: int = 60
    daily_limit: int = 5_000
    window_seconds: float = 60.0
    token_seconds: int = 600
    refresh_guard_seconds: float = 570.0
    code_seconds: float = 180.0
    refresh_idle_days: float = 30.0
    token_calls_per_day: int = 200
    error_budget: int = 10
    error_budget_window_seconds: float = 3_600.0
    error_budget_block_seconds: float = 3_600.0
    client_id: str = DEFAULT_CLIENT_ID
    client_secret: str = field(default=DEFAULT_CLIENT_SECRET, repr=False)
    redirect_uris: tuple[str, ...] = ()
    scopes: tuple[str, ...] | None = None  # None: every scope granted
    divisions: int = 2
    webhook_secret: str = field(default=DEFAULT_WEBHOOK_SECRET, repr=False)
    # Endpoints (lower-case "service/endpoint") that refuse $skip, as Exact does for endpoints
    # released after March 2017. None: the emulator's default set.
    no_skip_endpoints: frozenset[str] | None = None
    # Endpoints (lower-case "service/endpoint") that demand "a $select or a $top=1 statement".
    # None: the emulator's default set (generaljournalentry/GeneralJournalEntries and its siblings).
    select_or_top_endpoints: frozenset[str] | None = None
    # Exact writes __next on every full page, even when no rows follow (the last page is then empty);
    # False writes it only when more rows exist.
    next_on_full_page: bool = True
    seed: int = 20_260_101

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def accessible_divisions(self) -> tuple[int, ...]:
        """The divisions the demo user may access (and so may grant on the consent page)."""
        return tuple(FIRST_DIVISION + i for i in range(self.divisions))

    @property
    def forbidden_division(self) -> int:
        """A division that exists on the licence but that the demo user may not access."""
        return FIRST_DIVISION + self.divisions

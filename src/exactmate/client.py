"""``ExactClient``: the library's front door, composing settings, tokens, the rate governor and HTTP.

```python
with ExactClient.from_credential("acme") as client:
    accounts = client.resource("crm/Accounts")            # the current division
    for account in accounts.list(select=["ID", "Name"]):  # lazy; 1000 rows a call via bulk/
        ...
```

One ``httpx.Client`` serves every call, also when ``fan_out`` works on several divisions at once from
a thread pool: each division has its own rate ledger in the governor, so each stays within its own
limits while the others proceed.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from types import TracebackType
from typing import Any, TypeVar, overload

import httpx

from exactmate import odata, tls
from exactmate.auth import OAuthApp, TokenManager
from exactmate.catalogue import MAX_DIVISION, Catalogue, Endpoint
from exactmate.clock import Clock, SystemClock
from exactmate.config import Settings
from exactmate.errors import ExactmateError, ReauthorizationRequired, ValidationError
from exactmate.governor import Governor
from exactmate.http import HttpPolicy, QueryParams, RateGovernor, RetryPolicy, StatelessClient, TokenSource
from exactmate.odata import shorten
from exactmate.resource import EndpointCaller, Resource
from exactmate.secretbox import SecretBox
from exactmate.store import SecretBinding, Store
from exactmate.vault.credential import unknown_credential
from exactmate.vault.divisions import KnownDivisions
from exactmate.vault.rotation import bind_unbound, stored_key_ids
from exactmate.vault.tokens import CredentialTokens

T = TypeVar("T")


class ExactClient:
    """A connection to one Exact Online user through one app registration (client id)."""

    def __init__(
        self,
        *,
        server_url: str,
        client_id: str,
        tokens: TokenSource,
        credential_id: str = "explicit",
        governor: RateGovernor | None = None,
        clock: Clock | None = None,
        transport: httpx.BaseTransport | None = None,
        http_client: httpx.Client | None = None,
        catalogue: Catalogue | None = None,
        settings: Settings | None = None,
        max_workers: int = 4,
        retry: RetryPolicy | None = None,
        rng: random.Random | None = None,
        known_divisions: KnownDivisions | None = None,
    ) -> None:
        """Explicit settings; ``ExactClient.from_credential`` builds all of this from the vault.

        ``credential_id`` names the caller in the error budget; ``http_client`` stays the caller's to
        close, while a client built over ``transport`` (or the network) is closed by ``close()``.
        ``known_divisions`` (from the vault) refuses a division the user cannot access before any
        call, and learns the list whenever ``divisions()`` reads it.
        """
        if not server_url.startswith(("https://", "http://")):
            raise ValidationError(
                f"server_url must be an http(s) URL, got {server_url!r}",
                hint="e.g. https://start.exactonline.nl",
            )
        if max_workers < 1:
            raise ValidationError(f"max_workers must be at least 1, got {max_workers}")
        settings = settings or Settings.from_env()
        self._http = HttpPolicy(
            tokens=tokens,
            governor=governor,
            clock=clock or SystemClock(),
            retry=retry or RetryPolicy(max_retries=settings.max_retries),
            timeout=settings.timeout,
            rng=rng,
            transport=transport,
            http_client=http_client,
            user_agent=settings.user_agent,
        )
        self.catalogue = catalogue or Catalogue.load()
        self._api = EndpointCaller(
            http=self._http,
            server_url=server_url,
            credential_id=credential_id,
            client_id=client_id,
            catalogue=self.catalogue,
        )
        self.max_workers = max_workers
        self.known_divisions = known_divisions
        self._division_lock = threading.Lock()
        self._current_division: int | None = None
        self._closers: list[Callable[[], None]] = [self._http.close]

    @classmethod
    def from_credential(
        cls,
        name: str,
        *,
        settings: Settings | None = None,
        store: Store | None = None,
        box: SecretBox | None = None,
        clock: Clock | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> ExactClient:
        """A client for the stored credential ``name`` (case-insensitive), with its tokens and limits.

        Refuses without a call when the credential is marked as needing re-authorisation.
        """
        settings = settings or Settings.from_env()
        clock = clock or SystemClock()
        owned_store = store is None
        store = store or Store.from_settings(settings, clock=clock)
        try:
            row = store.credential_by_name(name)
            if row is None:
                raise unknown_credential(name, (r.name for r in store.list_credentials()))
            if row.status == "needs_reauthorization":
                why = row.status_reason or "its tokens are no longer valid"
                raise ReauthorizationRequired(
                    f"Credential {row.name!r} must be re-authorised: {why}", credential=row.name
                )
            box = box or SecretBox.from_settings(settings, sealed=lambda: stored_key_ids(store))
            bind_unbound(store, box)
            secret = box.decrypt(row.client_secret, SecretBinding.of(row).aad("client_secret"))
        except BaseException:
            if owned_store:
                store.close()
            raise
        # One cookie-less client for the token endpoint and the REST calls (see StatelessClient).
        http_client = StatelessClient(
            transport=transport,
            verify=tls.context() if transport is None else True,  # a transport of its own: no TLS here
            timeout=settings.timeout,
            follow_redirects=False,
        )
        app = OAuthApp(
            server_url=row.server_url,
            client_id=row.client_id,
            client_secret=secret,
            redirect_uri=row.redirect_uri,
        )
        held = CredentialTokens(store, box, row.id)
        tokens = TokenManager(tokens=held, app=app, http=http_client, clock=clock)
        client = cls(
            server_url=row.server_url,
            client_id=row.client_id,
            tokens=tokens,
            credential_id=row.id,
            governor=Governor(store, clock),
            clock=clock,
            http_client=http_client,
            settings=settings,
            known_divisions=KnownDivisions(store, row.id, row.name),
        )
        client._closers.append(http_client.close)
        if owned_store:
            client._closers.append(store.close)
        return client

    @property
    def client_id(self) -> str:
        """The app's client ID: what Exact's rate limits and error budget are counted per."""
        return self._api.client_id

    # -- the user and their divisions ----------------------------------------------------------------

    def me(self) -> dict[str, Any]:
        """The signed-in user (``current/Me``), dates converted; also caches the current division.

        ``current/Me`` has no division in its URL, so Exact neither counts nor limits it.
        """
        endpoint = self.catalogue.endpoint("current/Me")
        response = self._api.send("GET", endpoint, None)
        records, _, _ = odata.unwrap(odata.parse_json(response.content))
        if not records:
            raise ExactmateError("Exact Online answered current/Me without the user's record")
        me = odata.date_converter(endpoint.fields, strip=True)(records[0])
        division = me.get("CurrentDivision")
        if isinstance(division, int) and not isinstance(division, bool):
            with self._division_lock:
                self._current_division = division
        return me

    def current_division(self) -> int:
        """The division Exact uses when none is named (the one last opened in the web app), cached."""
        with self._division_lock:
            if self._current_division is not None:
                return self._current_division
        self.me()
        with self._division_lock:
            if self._current_division is None:
                raise ExactmateError("Exact Online's current/Me carries no CurrentDivision")
            return self._current_division

    def divisions(self) -> list[dict[str, Any]]:
        """The divisions the user can access (``system/Divisions``, read in the current division);
        remembered in the vault, when the client has a credential there."""
        rows = list(self.resource("system/Divisions").list())
        self.learn_divisions(rows)
        return rows

    def learn_divisions(self, rows: Iterable[Mapping[str, Any]]) -> None:
        """Remember ``system/Divisions`` records (``Code``, ``Description``) as the accessible ones."""
        if self.known_divisions is None:
            return
        found = [
            (code, str(row.get("Description") or ""))
            for row in rows
            if isinstance(code := row.get("Code"), int) and not isinstance(code, bool)
        ]
        if found:
            self.known_divisions.remember(found)

    # -- endpoints -----------------------------------------------------------------------------------

    def resource(self, path: str | Endpoint, division: int | None = None) -> Resource:
        """``service/Endpoint`` (any case, or the catalogue's ``Endpoint`` itself, which is not looked
        up again) in ``division``; None means the current division.

        An unknown endpoint raises ``CatalogueError`` with suggestions, before any call. The current
        division is looked up only when the resource is first used for a call.
        """
        endpoint = path if isinstance(path, Endpoint) else self.catalogue.endpoint(path)
        if division is None:
            return Resource(self._api, endpoint, self.current_division)
        return Resource(self._api, endpoint, self._accessible(division))

    def _accessible(self, division: object) -> int:
        """``division`` as a code, refused before any call when it is none, or when the vault knows
        the user's divisions and it is not among them."""
        number = _check_division(division)
        if self.known_divisions is not None:
            self.known_divisions.check(number)
        return number

    def request(
        self,
        method: str,
        path: str,
        *,
        division: int | None = None,
        params: QueryParams | None = None,
        json: Any = None,
    ) -> Any:
        """Any call the resources do not cover: ``read/`` functions, navigation links, ``/$count``.

        ``path`` is a catalogue path, optionally followed by a key and more (``crm/Accounts(guid'…')/
        BankAccounts``). Returns None for an empty answer; a list of records (every page followed,
        dates converted) for a collection; a dict for a single entity; other JSON as decoded; and
        plain text (an int when it is a number) otherwise.
        """
        endpoint, suffix = self._split(path)
        endpoint.require_method(method)
        number: int | None = None
        if endpoint.kind != "me":
            number = self.current_division() if division is None else self._accessible(division)
        response = self._api.send(method.upper(), endpoint, number, suffix=suffix, params=params, json=json)
        return self._decode(response, endpoint, number)

    @overload
    def fan_out(
        self, divisions: Iterable[int], fn: Callable[[int], T]
    ) -> Iterator[tuple[int, T | Exception]]: ...

    @overload
    def fan_out(
        self, divisions: Iterable[int], fn: Callable[[Resource], T], *, path: str
    ) -> Iterator[tuple[int, T | Exception]]: ...

    def fan_out(
        self, divisions: Iterable[int], fn: Callable[[Any], T], *, path: str | None = None
    ) -> Iterator[tuple[int, T | Exception]]:
        """Run ``fn`` for each division on a thread pool; yield ``(division, result or error)`` as each
        finishes. With ``path``, ``fn`` receives ``self.resource(path, division)`` instead of the number.

        ``fn`` should finish its work (e.g. ``list(resource.list())``) rather than return a lazy
        iterator, which would run on the caller's thread. An error in one division does not stop
        the others: it is yielded as that division's result.
        """
        numbers = [_check_division(d) for d in divisions]
        if path is None:
            return self._run_pool(numbers, fn)
        endpoint = self.catalogue.endpoint(path)
        return self._run_pool(numbers, lambda number: fn(Resource(self._api, endpoint, number)))

    def _run_pool(self, numbers: list[int], call: Callable[[int], T]) -> Iterator[tuple[int, T | Exception]]:
        pool = ThreadPoolExecutor(max_workers=min(self.max_workers, max(len(numbers), 1)))
        try:
            futures: dict[Future[T], int] = {pool.submit(call, number): number for number in numbers}
            for future in as_completed(futures):
                error = future.exception()
                if error is not None and not isinstance(error, Exception):
                    raise error
                yield futures[future], (error if error is not None else future.result())
        finally:
            pool.shutdown(wait=True, cancel_futures=True)

    @property
    def calls_sent(self) -> int:
        """Requests this client has sent to Exact's REST API (every attempt, retries included)."""
        return self._http.sent

    # -- lifecycle -----------------------------------------------------------------------------------

    def close(self) -> None:
        """Close what this client opened (its HTTP client, and the store ``from_credential`` opened)."""
        closers, self._closers = self._closers, []
        for close in reversed(closers):
            close()

    def __enter__(self) -> ExactClient:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # -- internals -----------------------------------------------------------------------------------

    def _split(self, path: str) -> tuple[Endpoint, str]:
        """The catalogue endpoint at the start of ``path`` and the rest (key, navigation, ``/$count``)."""
        cut = len(path)
        for marker in ("(", "/$"):
            index = path.find(marker)
            if index != -1:
                cut = min(cut, index)
        return self.catalogue.endpoint(path[:cut]), path[cut:]

    def _decode(self, response: httpx.Response, endpoint: Endpoint, division: int | None) -> Any:
        if not response.content.strip():
            return None
        if "json" not in response.headers.get("Content-Type", "json"):
            text = response.text.strip()
            return int(text) if text.isdigit() else text
        payload = odata.parse_json(response.content)
        if not isinstance(payload, dict) or "d" not in payload:
            return payload
        convert = odata.date_converter(endpoint.fields, strip=True)
        body = payload["d"]
        if isinstance(body, dict) and "results" not in body and "" not in body:
            return convert(body)
        records, next_url, _ = odata.unwrap(payload)
        out = [convert(r) for r in records]
        while next_url is not None:
            url = str(response.request.url.join(next_url))
            response = self._api.send("GET", endpoint, division, url=url)
            records, next_url, _ = odata.unwrap(odata.parse_json(response.content))
            out += [convert(r) for r in records]
        return out


def _check_division(division: object) -> int:
    if isinstance(division, int) and not isinstance(division, bool) and 0 < division <= MAX_DIVISION:
        return division
    raise ValidationError(
        f"A division is a whole number from 1 to {MAX_DIVISION} (the division code), got {shorten(division)}",
        hint="list them with client.divisions(), or pick one in the web UI's action form",
    )

"""Keys on the wire: for every keyed endpoint of the catalogue, over more than a thousand sampled
keys (GUIDs in braces, upper case and ``guid'…'``, big and padded integers, text with quotes, spaces,
commas, slashes, percent signs and unicode, composite keys as mappings and as ``A=…,B=…`` text), the
URL a dry run shows is the URL the real request sends, byte for byte, and the emulator's own OData
reader (which shares no code with the client's) reads the key back as the value that was meant.
A key refused by one is refused by the other with the same message, before any request.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import unquote

import httpx
import pytest

from exactmate.actions.dryrun import plan
from exactmate.actions.keys import key_suffix, parse_key
from exactmate.catalogue import Catalogue, Endpoint
from exactmate.clock import FakeClock
from exactmate.emulator.odata_filter import parse_literal_list
from exactmate.errors import ValidationError
from exactmate.http import HttpPolicy
from exactmate.odata.edm import key_kind
from exactmate.resource import EndpointCaller, Resource

SERVER = "https://start.exactonline.nl"
DIVISION = 100001
CATALOGUE = Catalogue.load()
KEYED = [
    endpoint
    for endpoint in CATALOGUE
    if (len(endpoint.keys) > 1 or endpoint.key_type is not None)  # not SyncTimestamp, keyed by a date
    and (endpoint.allows("GET") or endpoint.allows("DELETE"))  # not the POST-only actions
]
SAMPLES_PER_ENDPOINT = 3
SAMPLES_PER_RARE_ENDPOINT = 40  # text and composite keys: few endpoints, the most ways to go wrong

TEXTS = [
    "O'Brien",
    "''",
    " padded ",
    "two  spaces",
    "Zoë & Søren",
    "東京",
    "emoji 🙂",
    "a,b=c",
    "50% off",
    "path/with/slashes",
    "question?hash#",
    "tab\there",
    "line\nbreak",
    "(parens)",
    "+plus",
    "x" * 200,
]


class FakeTokens:
    def access_token(self) -> str:
        return "token"

    def refresh_after_401(self, rejected: str) -> str:
        return "token"


class Wire:
    """A resource's HTTP, captured: every request is recorded and answered with one record."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []
        client = httpx.Client(transport=httpx.MockTransport(self._answer))
        policy = HttpPolicy(tokens=FakeTokens(), clock=FakeClock(), http_client=client)
        self.api = EndpointCaller(
            http=policy, server_url=SERVER, credential_id="c", client_id="id", catalogue=CATALOGUE
        )

    def _answer(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if request.method == "DELETE":
            return httpx.Response(204)
        return httpx.Response(200, json={"d": {"results": [{"Found": True}]}})


@pytest.fixture(scope="module")
def wire() -> Iterator[Wire]:
    yield Wire()


def _guid(rng: random.Random) -> tuple[object, str]:
    """A GUID as users write it, and its canonical text."""
    value = uuid.UUID(int=rng.getrandbits(128))
    text = str(value)
    shapes: list[object] = [
        text,
        text.upper(),
        "{" + text + "}",
        "{" + text.upper() + "}",
        f"guid'{text}'",
        f"  {text}  ",
        text.replace("-", ""),
        value,
    ]
    return rng.choice(shapes), text


def _int(rng: random.Random) -> tuple[object, int]:
    number = rng.choice([0, 1, -1, 2**31 - 1, -(2**31), 2**63 - 1, -(2**63), rng.randint(-(10**12), 10**12)])
    shapes: list[object] = [number, str(number), f" {number} "]
    return rng.choice(shapes), number


def _text(rng: random.Random) -> tuple[object, str]:
    text = rng.choice(TEXTS)
    return text, text


def _value(kind: str, rng: random.Random) -> tuple[object, object]:
    """A sampled key value of ``kind`` and the value the emulator must read back."""
    if kind == "guid":
        return _guid(rng)
    if kind == "int":
        return _int(rng)
    return _text(rng)


def _field_kind(endpoint: Endpoint, name: str) -> str:
    field = endpoint.fields.get(name)
    return key_kind(field.type if field else None)


def _sample(endpoint: Endpoint, rng: random.Random) -> tuple[object, dict[str | None, object]]:
    """A key for ``endpoint`` and the value each key field must be read back as."""
    if len(endpoint.keys) == 1:
        given, expected = _value(endpoint.key_type or "string", rng)
        return given, {None: expected}
    values = {name: _value(_field_kind(endpoint, name), rng) for name in endpoint.keys}
    expected: dict[str | None, object] = {name: meant for name, (_, meant) in values.items()}
    typeable = all(
        isinstance(v, str | int) and "," not in str(v) and "=" not in str(v) and str(v) == str(v).strip()
        for v, _ in values.values()
    )
    if typeable and rng.random() < 0.5:  # as users type it on the command line
        return ",".join(f"{name}={str(given).strip()}" for name, (given, _) in values.items()), expected
    return {
        name.lower() if rng.random() < 0.3 else name: given for name, (given, _) in values.items()
    }, expected


def _cases() -> list[tuple[Endpoint, object, dict[str | None, object]]]:
    rng = random.Random(20260520)
    cases = []
    for endpoint in KEYED:
        rare = len(endpoint.keys) > 1 or endpoint.key_type == "string"
        for _ in range(SAMPLES_PER_RARE_ENDPOINT if rare else SAMPLES_PER_ENDPOINT):
            cases.append((endpoint, *_sample(endpoint, rng)))
    return cases


CASES = _cases()


def test_the_sample_covers_every_key_type_of_the_catalogue() -> None:
    kinds = {"composite" if len(e.keys) > 1 else e.key_type for e, _, _ in CASES}
    assert kinds == {"guid", "int", "string", "composite"}
    assert {e.path for e, _, _ in CASES} == {e.path for e in KEYED}
    assert len(CASES) >= 1000


def _real_request(wire: Wire, endpoint: Endpoint, key: object) -> httpx.Request:
    resource = Resource(wire.api, endpoint, DIVISION)
    before = len(wire.requests)
    if endpoint.allows("DELETE"):
        resource.delete(key)
    else:
        resource.get(key)
    assert len(wire.requests) == before + 1
    return wire.requests[-1]


def test_dry_run_urls_are_the_urls_sent(wire: Wire) -> None:
    mismatches = []
    for endpoint, key, expected in CASES:
        method = "DELETE" if endpoint.allows("DELETE") else "GET"
        shown = plan(SERVER, method, endpoint, DIVISION, suffix=key_suffix(endpoint, key)).url
        sent = _real_request(wire, endpoint, key)
        if (sent.method, str(sent.url)) != (method, shown):
            mismatches.append((endpoint.path, key, shown, str(sent.url)))
        assert _read_back(endpoint, sent.url.raw_path.decode()) == expected, (endpoint.path, key)
    assert mismatches == []


def _read_back(endpoint: Endpoint, raw_path: str) -> dict[str | None, Any]:
    """The key as the emulator's own literal reader sees it in the path that was sent."""
    assert raw_path.startswith(endpoint.url_path(DIVISION) + "(") and raw_path.endswith(")")
    text = unquote(raw_path[len(endpoint.url_path(DIVISION)) + 1 : -1])
    parsed = parse_literal_list(text)
    return {name: (str(lit.value).lower() if lit.kind == "guid" else lit.value) for name, lit in parsed}


BAD_KEYS: dict[str, list[object]] = {
    "guid": ["", "not-a-guid", "{1234}", 42, 1.5, True, None, ["x"], {"Bogus": 1}, "guid'x'"],
    "int": ["", "12abc", "1e5", "9" * 25, "+5", 1.5, True, None, ["x"], {"Bogus": 1}],
    "string": ["", 42, 1.5, True, None, ["x"], {"Bogus": 1}, {"a": 1, "b": 2}],
    "composite": ["", "just-one", "=1", 3, None, ["x"], {"Bogus": 1}, {}],
}


def _one_of_each_key_type() -> list[Endpoint]:
    singles = [
        next(e for e in KEYED if len(e.keys) == 1 and e.key_type == kind)
        for kind in ("guid", "int", "string")
    ]
    return [*singles, next(e for e in KEYED if len(e.keys) > 1)]


@pytest.mark.parametrize("endpoint", _one_of_each_key_type(), ids=lambda e: e.path)
def test_refused_keys_are_refused_alike_before_any_request(wire: Wire, endpoint: Endpoint) -> None:
    kind = "composite" if len(endpoint.keys) > 1 else str(endpoint.key_type)
    for key in BAD_KEYS[kind]:
        with pytest.raises(ValidationError) as dry:
            key_suffix(endpoint, parse_key(endpoint, key))
        before = len(wire.requests)
        with pytest.raises(ValidationError) as real:
            _real_request(wire, endpoint, key)
        assert str(real.value) == str(dry.value), key
        assert len(wire.requests) == before

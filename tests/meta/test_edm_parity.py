"""The client's Edm facts agree with the emulator's, which keeps its own copy on purpose (it is an
island, so the two can never share one misunderstanding): same integer ranges, same operand kinds,
and a ``$filter`` literal the client's check passes is one the emulator's evaluator accepts."""

from __future__ import annotations

import pytest

from exactmate.actions.filtercheck import check_filter_text
from exactmate.catalogue import Endpoint, Field
from exactmate.emulator import catalogue as emulator_catalogue
from exactmate.emulator import rules as emulator_rules
from exactmate.emulator.odata_filter import ODataError, compile_filter
from exactmate.errors import ValidationError
from exactmate.odata import edm

LITERALS = [
    "'text'",
    "'2026-11-20'",
    "guid'3f2504e0-4f89-11d3-9a0c-0305e82c3301'",
    "datetime'2026-11-20T00:00:00'",
    "7",
    "7L",
    "7.5",
    "true",
    "false",
    "null",
]
TYPES = sorted(set(emulator_catalogue.EDM_KINDS) | {"Collection"})


def test_integer_ranges_agree() -> None:
    assert dict(edm.INT_RANGES) == dict(emulator_rules._INT_RANGES)


def test_operand_kinds_agree() -> None:
    for edm_type in TYPES:
        emulator_kind = emulator_catalogue.Field("F", edm_type).kind
        assert edm.operand_kind(edm_type) == emulator_kind, edm_type


@pytest.mark.parametrize("edm_type", TYPES)
def test_the_filter_check_accepts_what_the_emulator_accepts(edm_type: str) -> None:
    client = Endpoint(
        path="test/Things",
        service="test",
        name="Things",
        kind="rest",
        methods=frozenset({"GET"}),
        fields={"F": Field("F", edm_type)},
    )
    emulator_fields = {"F": emulator_catalogue.Field("F", edm_type)}
    for literal in LITERALS:
        text = f"F eq {literal}"
        try:
            compile_filter(text, emulator_fields, "Exact.Web.Api.Models.Thing")
            emulator_ok = True
        except ODataError:
            emulator_ok = False
        try:
            check_filter_text(client, text)
            client_ok = True
        except ValidationError:
            client_ok = False
        assert client_ok == emulator_ok, f"{edm_type}: {text} (emulator {emulator_ok}, client {client_ok})"

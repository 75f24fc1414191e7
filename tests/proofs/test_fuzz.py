"""Fuzzing what users type and the files they hand over: whatever the input, the answer is a value or
a ``ValidationError`` (exit code 3, a message naming the problem), never a traceback.

Hypothesis generates the inputs, derandomized so CI runs the same examples every time.
"""

from __future__ import annotations

import contextlib
import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from exactmate.actions.divisions import parse_division
from exactmate.actions.fields import parse_assignments, prepare_record
from exactmate.actions.filtercheck import check_filter_text
from exactmate.actions.keys import key_suffix
from exactmate.actions.sources import parse_entries
from exactmate.actions.timerules import CREATE_RULES
from exactmate.catalogue import Catalogue
from exactmate.errors import ValidationError

CATALOGUE = Catalogue.load()
TIME = CATALOGUE.endpoint("project/TimeTransactions")
ACCOUNTS = CATALOGUE.endpoint("crm/Accounts")
FIELDS = sorted(TIME.fields)
FUZZ = settings(
    max_examples=300, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)

# Text as people paste it: numbers in every notation, dates, GUID-like strings, quotes, unicode.
typed = st.one_of(
    st.text(max_size=40),
    st.from_regex(r"[+-]?\d{0,30}([.,]\d{0,10})?([eE][+-]?\d{1,5})?", fullmatch=True),
    st.sampled_from(["sNaN", "NaN", "-inf", "Infinity", "1e999", "9" * 5000, "٣", "7,5", "1_000", "0x10"]),
    st.from_regex(r"\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2})?)?", fullmatch=True),
    st.uuids().map(str),
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)


def _only_validation_errors(action: Any) -> None:
    with contextlib.suppress(ValidationError):  # anything else fails the test, with the input
        action()


@FUZZ
@given(st.dictionaries(st.sampled_from(FIELDS), st.one_of(typed, json_values), max_size=6))
def test_the_data_manager_coerces_or_names_the_problem(values: dict[str, Any]) -> None:
    record, problems = prepare_record(TIME, values, creating=True, extra_rules=CREATE_RULES)
    assert isinstance(record, dict) and all(isinstance(p, str) and len(p) < 2000 for p in problems)


@FUZZ
@given(st.lists(st.text(max_size=30), max_size=6))
def test_set_assignments(items: list[str]) -> None:
    _only_validation_errors(lambda: parse_assignments(items))


@FUZZ
@given(st.binary(max_size=400), st.sampled_from(["csv", "json", "ndjson"]))
def test_entry_files_of_any_bytes(data: bytes, fmt: str) -> None:
    _only_validation_errors(lambda: parse_entries(data, fmt))  # type: ignore[arg-type]


@FUZZ
@given(json_values)
def test_entry_files_of_any_json(value: Any) -> None:
    data = json.dumps(value).encode()
    _only_validation_errors(lambda: parse_entries(data, "json"))
    _only_validation_errors(lambda: parse_entries(data + b"\n" + data, "ndjson"))


@FUZZ
@given(st.one_of(typed, st.integers(), st.none()))
def test_division_choices(value: Any) -> None:
    _only_validation_errors(lambda: parse_division(value))


@FUZZ
@given(st.one_of(typed, st.integers()))
def test_record_keys(value: Any) -> None:
    _only_validation_errors(lambda: key_suffix(TIME, value))
    _only_validation_errors(lambda: key_suffix(CATALOGUE.endpoint("system/Divisions"), value))


@FUZZ
@given(st.text(alphabet=st.sampled_from(list("Name eq'()=!,/ 0129abx")), max_size=40) | st.text(max_size=40))
def test_filter_texts(text: str) -> None:
    _only_validation_errors(lambda: check_filter_text(ACCOUNTS, text))

"""Inputs that once ended in a traceback: each is a clear error with exit code 3, and costs no call."""

from __future__ import annotations

import pytest

from tests.cli.conftest import D1, Emu, run

HUGE = "9" * 5000
TC = ("time", "create")
IN_D1 = ("-d", str(D1))


@pytest.mark.parametrize(
    ("args", "says"),
    [
        ((*TC, "--set", f"HourStatus={HUGE}", "--set", "Quantity=1", *IN_D1), "out of range"),
        ((*TC, "--set", f"Quantity={HUGE}", *IN_D1), "is not a finite number"),
        ((*TC, "--set", "Quantity=sNaN", *IN_D1), "'sNaN' is not a finite number"),
        ((*TC, "--set", "Quantity=1", "--division", "99999999999999999999"), "is not a division"),
        (("get", "crm/Accounts", "--filter", ")))((( eq", "-d", str(D1)), "closes no '('"),
        (("get", "crm/Accounts", "--filter", "Name = 'x'", "-d", str(D1)), "use eq"),
        (("get", "crm/Accounts", "--division", "2147483648"), "is not a division"),
        (("call", "GET", "read/project/HoursByDate/../../../system/Divisions", *IN_D1), "'..' segment"),
    ],
)
def test_bad_input_is_a_clear_error_that_costs_no_call(emu: Emu, args: tuple[str, ...], says: str) -> None:
    calls = emu.rest_calls()
    result = run(*args)
    assert result.exit_code == 3, (result.stdout, result.stderr)
    assert says in result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr) < 2000  # nothing echoed 5,000 times
    assert emu.rest_calls() == calls


def test_hints_name_credentials_quoted_and_times_locally() -> None:
    from datetime import UTC, datetime, timedelta

    from exactmate.errors import BudgetExceeded, ReauthorizationRequired, connect_command, local_time

    assert connect_command("Emu Skip") == "exactmate vault connect 'Emu Skip'"
    assert "exactmate vault connect 'Acme NL'" in str(ReauthorizationRequired("x", credential="Acme NL"))
    soon = datetime.now(UTC) + timedelta(minutes=5)
    refused = BudgetExceeded("x", reopens_at=soon, endpoint="crm/Contacts", division=1)
    assert f"calls to crm/Contacts reopen at {soon.astimezone().strftime('%H:%M:%S')}" in str(refused)
    earlier = local_time(soon - timedelta(days=3))
    assert earlier.count(":") == 2 and earlier.count("-") == 2  # another day: the date comes along

"""Flow files checked before anything runs: every mistake found at once, each with its line, and a
valid file read into its trigger and steps."""

from __future__ import annotations

import textwrap

import pytest

from exactmate.flows import FlowError, load_flow
from exactmate.flows.expressions import ExpressionError, render

GOOD = """\
name: friday-hours
description: Book the week's hours
credential: Acme NL
division: 100001
trigger:
  schedule: "0 17 * * FRI"
steps:
  - id: project
    action: list_or_get
    with: {endpoint: project/Projects, filter: "Code eq 'P1'", top: 1, select: [ID, Code]}
  - id: book
    action: create_time_transactions
    for_each: "{{ trigger.rows }}"
    with:
      fields:
        Project: "{{ steps.project.records[0].ID }}"
        Quantity: "{{ item.hours }}"
    on_error: {retry: {times: 3}}
  - id: tell
    action: log
    with: {message: "{{ steps.book.created }} booked"}
"""


def test_a_valid_flow_is_read_into_its_trigger_and_steps() -> None:
    flow = load_flow(GOOD, source="friday.yaml")
    assert (flow.name, flow.credential, flow.division, flow.timezone) == (
        "friday-hours",
        "Acme NL",
        100001,
        "Europe/Amsterdam",
    )
    assert flow.trigger.kind == "schedule" and flow.trigger.options["cron"] == "0 17 * * FRI"
    assert [(s.id, s.action, s.on_error, s.retries) for s in flow.steps] == [
        ("project", "list_or_get", "stop", 0),
        ("book", "create_time_transactions", "retry", 3),
        ("tell", "log", "stop", 0),
    ]
    assert len(flow.digest) == 64 and flow.digest == load_flow(GOOD).digest


def _with(step: str) -> str:
    """A flow whose only step is ``step`` (YAML of one list item, indented by the caller's text)."""
    return "name: f\ntrigger: {manual: {}}\nsteps:\n" + textwrap.indent(textwrap.dedent(step), "  ")


BAD = [
    ("tab", "name: f\ntrigger:\n\tmanual: {}\n", 3, "tab character"),
    ("broken YAML", "name: f\nsteps: [1, 2\n", 3, "YAML"),
    ("duplicate key", "name: f\nname: g\n", 2, "appears twice"),
    ("python tag", "name: !!python/object/apply:os.system [ls]\n", 1, "is not allowed in a flow file"),
    ("python scalar tag", "name: !!python/name:os.system x\n", 1, "YAML"),
    ("not a mapping", "- a\n- b\n", 1, "a flow file is a mapping"),
    (
        "bad name",
        "name: Friday Hours\ntrigger: {manual: {}}\nsteps: [{id: a, action: log, with: {message: x}}]\n",
        1,
        "lower-case letters",
    ),
    (
        "unknown top key",
        "name: f\nschedule: daily\ntrigger: {manual: {}}\nsteps: [{id: a, action: log, "
        "with: {message: x}}]\n",
        2,
        "unknown key 'schedule'",
    ),
    ("no steps", "name: f\ntrigger: {manual: {}}\nsteps: []\n", 3, "steps: a list"),
    (
        "two triggers",
        "name: f\ntrigger: {manual: {}, http: {}}\nsteps: [{id: a, action: log, with: {message: x}}]\n",
        2,
        "exactly one of",
    ),
    (
        "bad cron",
        "name: f\ntrigger: {schedule: 'every friday'}\nsteps: [{id: a, action: log, with: {message: x}}]\n",
        2,
        "is not a cron expression",
    ),
    (
        "bad catch_up",
        "name: f\ntrigger: {schedule: {cron: '0 17 * * *', catch_up: some}}\nsteps: "
        "[{id: a, action: log, with: {message: x}}]\n",
        2,
        "catch_up: one of",
    ),
    (
        "bad time zone",
        "name: f\ntimezone: Mars/Olympus\ntrigger: {manual: {}}\nsteps: [{id: a, action: log, "
        "with: {message: x}}]\n",
        2,
        "is not a time zone",
    ),
    (
        "bad division",
        "name: f\ndivision: -3\ntrigger: {manual: {}}\nsteps: [{id: a, action: log, with: {message: x}}]\n",
        2,
        "is not a division",
    ),
    (
        "unknown topic",
        "name: f\ntrigger: {exact: {topic: Invoices}}\nsteps: [{id: a, action: log, with: {message: x}}]\n",
        2,
        "is not one of Exact's",
    ),
    (
        "reconcile too often",
        "name: f\ntrigger:\n  exact: {topic: TimeTransactions, reconcile: 2s}\nsteps: [{id: a, action: log, "
        "with: {message: x}}]\n",
        3,
        "reconcile is how often the feed is read, 10 s or more",
    ),
    (
        "reconcile not a duration",
        "name: f\ntrigger:\n  exact: {topic: TimeTransactions, reconcile: hourly}\nsteps: [{id: a, "
        "action: log, with: {message: x}}]\n",
        3,
        "(seconds, or e.g. 90s, 5m, 1h)",
    ),
    (
        "bad input type",
        "name: f\ntrigger: {manual: {inputs: {rows: {type: sheet}}}}\nsteps: [{id: a, action: log, "
        "with: {message: x}}]\n",
        2,
        "a type of string, number or file",
    ),
    (
        "unknown action",
        _with("- id: a\n  action: send_email\n  with: {to: x}\n"),
        5,
        "'send_email' is not one of",
    ),
    ("step without id", _with("- action: log\n  with: {message: x}\n"), 4, "every step needs an id"),
    (
        "same id twice",
        _with("- {id: a, action: log, with: {message: x}}\n- {id: a, action: log, with: {message: y}}\n"),
        5,
        "is the id of an earlier step too",
    ),
    (
        "unknown step key",
        _with("- id: a\n  action: log\n  when: always\n  with: {message: x}\n"),
        6,
        "unknown key 'when' in a step",
    ),
    (
        "unknown argument",
        _with("- id: a\n  action: log\n  with: {message: x, level: info}\n"),
        6,
        "log takes no argument 'level'",
    ),
    (
        "missing argument",
        _with("- id: a\n  action: list_or_get\n  with: {top: 1}\n"),
        6,
        "needs the argument 'endpoint'",
    ),
    (
        "unknown endpoint",
        _with("- id: a\n  action: list_or_get\n  with: {endpoint: crm/Acounts}\n"),
        6,
        "Unknown endpoint 'crm/Acounts'",
    ),
    (
        "unknown field",
        _with("- id: a\n  action: create_time_transactions\n  with:\n    fields: {Quantiy: 2}\n"),
        6,
        "Unknown field 'Quantiy'",
    ),
    (
        "unknown select field",
        _with("- id: a\n  action: list_or_get\n  with: {endpoint: crm/Accounts, select: [ID, Nmae]}\n"),
        6,
        "Unknown field 'Nmae'",
    ),
    (
        "delete where Exact has none",
        _with("- id: a\n  action: delete_record\n  with: {endpoint: sync/CRM/Accounts, key: 1}\n"),
        6,
        "does not support DELETE",
    ),
    (
        "method the endpoint lacks",
        _with("- id: a\n  action: call\n  with: {method: POST, path: read/project/HourTypes}\n"),
        6,
        "does not support POST",
    ),
    (
        "expression syntax",
        _with("- id: a\n  action: log\n  with: {message: '{{ steps.x. }}'}\n"),
        6,
        "expression",
    ),
    (
        "later step",
        _with(
            "- {id: a, action: log, with: {message: '{{ steps.b.message }}'}}\n- {id: b, action: log, "
            "with: {message: x}}\n"
        ),
        4,
        "no earlier step has the id 'b'",
    ),
    (
        "unknown name",
        _with("- id: a\n  action: log\n  with: {message: '{{ env.HOME }}'}\n"),
        6,
        "unknown name 'env'",
    ),
    (
        "item outside for_each",
        _with("- id: a\n  action: log\n  with: {message: '{{ item }}'}\n"),
        6,
        "item exists only inside a step with for_each",
    ),
    (
        "bad on_error",
        _with("- id: a\n  action: log\n  with: {message: x}\n  on_error: retry\n"),
        7,
        "on_error:",
    ),
    (
        "retry too often",
        _with("- id: a\n  action: log\n  with: {message: x}\n  on_error: {retry: {times: 50}}\n"),
        7,
        "on_error:",
    ),
    (
        "for_each not a list",
        _with("- id: a\n  action: log\n  with: {message: x}\n  for_each: 12\n"),
        7,
        "for_each: an expression giving a list",
    ),
]


@pytest.mark.parametrize(("text", "line", "said"), [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_each_mistake_is_refused_with_its_line(text: str, line: int, said: str) -> None:
    with pytest.raises(FlowError) as caught:
        load_flow(text, source="bad.yaml")
    assert caught.value.message.startswith("bad.yaml is not a valid flow file")
    matching = [p for p in caught.value.problems if said in p]
    assert matching, caught.value.problems
    assert matching[0].startswith(f"line {line}: "), caught.value.problems


def test_every_problem_of_a_file_is_listed_at_once() -> None:
    text = _with(
        "- {id: a, action: send_email}\n- {id: b, action: log, with: {message: '{{ steps.z.x }}'}}\n"
        "- {id: c, action: list_or_get, with: {endpoint: crm/Acounts}}\n"
    )
    with pytest.raises(FlowError) as caught:
        load_flow(text)
    assert len(caught.value.problems) == 3
    assert [p.split(":")[0] for p in caught.value.problems] == ["line 4", "line 5", "line 6"]


def test_expressions_keep_types_and_refuse_what_is_not_there() -> None:
    scope = {"trigger": {"rows": [{"h": 2}]}, "steps": {"p": {"records": [{"ID": "g-1"}]}}, "vars": {}}
    assert render("{{ trigger.rows }}", scope) == [{"h": 2}]
    assert render("{{ trigger.rows[0].h * 1.5 }}", scope) == 3.0
    assert render("{{ steps.p.records[0].ID }}", scope) == "g-1"
    assert render("ID {{ steps.p.records[0].ID }}!", scope) == "ID g-1!"
    assert render({"a": ["{{ trigger.rows[0].h }}", 7]}, scope) == {"a": [2, 7]}
    for missing in ("{{ steps.q.records }}", "{{ trigger.rows[0].x }}", "x {{ vars.nothing }}"):
        with pytest.raises(ExpressionError, match="undefined|has no attribute"):
            render(missing, scope)
    outputs = {"steps": {"copy": {"items": [1, 2], "keys": "k"}}, "trigger": {}, "vars": {}}
    assert (
        render("{{ steps.copy.items }} {{ steps.copy.keys }}", outputs) == "[1, 2] k"
    )  # data, not dict methods
    with pytest.raises(ExpressionError):
        render("{{ steps.copy.values }}", outputs)  # no such key: an error, not the dict's method
    with pytest.raises(ExpressionError, match="no attribute '__class__'"):
        render("{{ trigger.__class__.__mro__ }}", scope)  # a mapping's keys only
    with pytest.raises(ExpressionError, match="not allowed in a flow|unsafe"):
        render("{{ (1).__class__.__mro__ }}", scope)


@pytest.mark.parametrize(
    ("given", "seconds"), [(None, 300.0), (45, 45.0), ("90s", 90.0), ("5m", 300.0), ("1h", 3600.0)]
)
def test_an_exact_triggers_reconcile_interval(given: object, seconds: float) -> None:
    option = "" if given is None else f", reconcile: {given}"
    flow = load_flow(
        f"name: f\ntrigger: {{exact: {{topic: TimeTransactions{option}}}}}\n"
        "steps: [{id: a, action: log, with: {message: x}}]\n"
    )
    assert flow.trigger.reconcile_seconds == seconds

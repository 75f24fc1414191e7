"""A flow: its trigger and steps, read from a YAML file and checked completely before anything runs.

``load_flow`` refuses a file with every problem it has at once, each with its line: unknown keys,
actions and arguments, endpoints, methods and fields the catalogue does not know, expressions that do
not parse or use names outside the flow's scope, references to steps that do not exist or come
later, a cron expression that does not parse. A flow that does not load never runs, so no mistake
it could have shown costs a call to Exact.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from exactmate.errors import ValidationError
from exactmate.flows import expressions
from exactmate.flows.actions import ACTIONS, StaticCheck
from exactmate.flows.document import Document, DocumentError, Path, parse

if TYPE_CHECKING:
    from exactmate.catalogue import Catalogue

NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
STEP_ID = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
FLOW_KEYS = frozenset({"name", "description", "credential", "division", "timezone", "trigger", "steps"})
STEP_KEYS = frozenset({"id", "action", "with", "for_each", "if", "on_error", "description"})
TRIGGERS = ("manual", "schedule", "exact", "http")
INPUT_TYPES = frozenset({"string", "number", "file"})
CATCH_UP = ("none", "last", "all")
EXACT_ACTIONS = frozenset({"Create", "Update", "Delete"})
DEFAULT_TIMEZONE = "Europe/Amsterdam"
DEFAULT_RECONCILE = 300.0  # seconds between an exact trigger's reads of its sync/ feed
MIN_RECONCILE = 10.0
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h)?\s*$")
MAX_RETRIES = 10


def duration_seconds(value: Any) -> float | None:
    """Seconds from a number or ``90s`` / ``5m`` / ``1h`` text; None when it is neither."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    found = _DURATION.match(value) if isinstance(value, str) else None
    if found is None:
        return None
    return float(found[1]) * {"s": 1, "m": 60, "h": 3600}[found[2] or "s"]


class FlowError(ValidationError):
    """A flow file that cannot run; ``problems`` are "line N: what is wrong" each."""


@dataclass(frozen=True)
class Step:
    id: str
    action: str
    args: Mapping[str, Any]
    for_each: Any = None
    condition: Any = None
    on_error: str = "stop"  # stop | continue | retry
    retries: int = 0


@dataclass(frozen=True)
class Trigger:
    kind: str  # manual | schedule | exact | http
    options: Mapping[str, Any] = field(default_factory=dict)

    @property
    def reconcile_seconds(self) -> float:
        """An exact trigger's reconciliation interval (``reconcile``: seconds, or ``90s``, ``5m``, ``1h``)."""
        return duration_seconds(self.options.get("reconcile", DEFAULT_RECONCILE)) or DEFAULT_RECONCILE

    @property
    def inputs(self) -> Mapping[str, Mapping[str, Any]]:
        """A manual trigger's declared inputs: name -> {type, required}."""
        found = self.options.get("inputs") or {}
        return {name: dict(spec or {}) for name, spec in found.items()}


@dataclass(frozen=True)
class Flow:
    name: str
    steps: tuple[Step, ...]
    trigger: Trigger
    text: str
    source: str
    description: str = ""
    credential: str | None = None
    division: Any = None
    timezone: str = DEFAULT_TIMEZONE

    @property
    def digest(self) -> str:
        """The SHA-256 of the file's text: what a run pins."""
        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()

    @property
    def talks_to_exact(self) -> bool:
        return any(ACTIONS[step.action].exact for step in self.steps)


def load_flow(text: str, *, source: str = "<flow>", catalogue: Catalogue | None = None) -> Flow:
    """The flow in ``text`` (the content of the file ``source``); ``FlowError`` listing every problem."""
    from exactmate.catalogue import Catalogue

    try:
        document = parse(text)
    except DocumentError as exc:
        where = f"line {exc.line}: " if exc.line else ""
        raise FlowError(f"{source} is not a valid flow file", problems=[where + exc.message]) from None
    reader = _Reader(document, catalogue or Catalogue.load())
    flow = reader.flow(text, source)
    if reader.problems or flow is None:
        shown = [f"line {line}: {message}" if line else message for line, message in reader.sorted()]
        raise FlowError(f"{source} is not a valid flow file ({len(shown)} problem(s))", problems=shown)
    return flow


class _Reader:
    def __init__(self, document: Document, catalogue: Catalogue) -> None:
        self.document = document
        self.catalogue = catalogue
        self.problems: list[tuple[int | None, str]] = []

    def problem(self, path: Path, message: str) -> None:
        self.problems.append((self.document.line(path), message))

    def sorted(self) -> list[tuple[int | None, str]]:
        return sorted(set(self.problems), key=lambda p: (p[0] or 0, p[1]))

    def flow(self, text: str, source: str) -> Flow | None:
        data = self.document.data
        if not isinstance(data, Mapping):
            self.problem((), "a flow file is a mapping with name, trigger and steps")
            return None
        for key in data:
            if key not in FLOW_KEYS:
                self.problem((key,), f"unknown key {key!r}; a flow has {', '.join(sorted(FLOW_KEYS))}")
        name = data.get("name")
        if not isinstance(name, str) or not NAME.match(name):
            self.problem(("name",), "name: give the flow a name of lower-case letters, digits and dashes")
            name = "?"
        credential = data.get("credential")
        if credential is not None and (not isinstance(credential, str) or not credential.strip()):
            self.problem(
                ("credential",), "credential: the name of a vault credential (see exactmate vault list)"
            )
        division = self.division(data.get("division"), ("division",))
        timezone = data.get("timezone", DEFAULT_TIMEZONE)
        try:
            ZoneInfo(str(timezone))
        except (ZoneInfoNotFoundError, ValueError):
            self.problem(("timezone",), f"timezone: {timezone!r} is not a time zone (e.g. Europe/Amsterdam)")
        trigger = self.trigger(data.get("trigger"))
        steps = self.steps(data.get("steps"), trigger)
        return Flow(
            name=name,
            steps=steps,
            trigger=trigger,
            text=text,
            source=source,
            description=str(data.get("description") or ""),
            credential=credential if isinstance(credential, str) else None,
            division=division,
            timezone=str(timezone),
        )

    def division(self, value: Any, path: Path) -> Any:
        if value is None or value in ("current", "all") or expressions.is_template(value):
            return value
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
        self.problem(path, f"division: {value!r} is not a division; give a number, current or all")
        return None

    def trigger(self, value: Any) -> Trigger:
        if not isinstance(value, Mapping) or len(value) != 1 or next(iter(value)) not in TRIGGERS:
            self.problem(("trigger",), f"trigger: give exactly one of {', '.join(TRIGGERS)}")
            return Trigger("manual")
        kind, options = next(iter(value.items()))
        options = {} if options is None else options
        if kind == "schedule" and isinstance(options, str):
            options = {"cron": options}
        if not isinstance(options, Mapping):
            self.problem(("trigger", kind), f"trigger {kind}: its options are a mapping")
            return Trigger(kind)
        getattr(self, f"_{kind}")(options, ("trigger", kind))
        return Trigger(kind, dict(options))

    def _manual(self, options: Mapping[str, Any], path: Path) -> None:
        self.only(options, {"inputs"}, path)
        inputs = options.get("inputs") or {}
        if not isinstance(inputs, Mapping):
            self.problem((*path, "inputs"), "inputs: a mapping of input names to {type: string|number|file}")
            return
        for name, spec in inputs.items():
            spec = spec or {}
            kind = spec.get("type", "string") if isinstance(spec, Mapping) else None
            if not STEP_ID.match(str(name)) or kind not in INPUT_TYPES:
                self.problem(
                    (*path, "inputs", name), f"input {name!r}: a name and a type of string, number or file"
                )

    def _schedule(self, options: Mapping[str, Any], path: Path) -> None:
        from croniter import croniter

        self.only(options, {"cron", "catch_up"}, path)
        cron = options.get("cron")
        if not isinstance(cron, str) or not croniter.is_valid(cron):
            self.problem(
                (*path, "cron"), f"schedule: {cron!r} is not a cron expression (e.g. '0 17 * * FRI')"
            )
        if options.get("catch_up", "last") not in CATCH_UP:
            self.problem((*path, "catch_up"), f"catch_up: one of {', '.join(CATCH_UP)}")

    def _exact(self, options: Mapping[str, Any], path: Path) -> None:
        self.only(options, {"topic", "actions", "reconcile"}, path)
        topic = options.get("topic")
        topics = sorted({e.name for e in self.catalogue if e.webhook})
        if topic not in topics:
            self.problem(
                (*path, "topic"), f"exact: topic {topic!r} is not one of Exact's: {', '.join(topics)}"
            )
        actions = options.get("actions", sorted(EXACT_ACTIONS))
        if not isinstance(actions, list) or not set(actions) <= EXACT_ACTIONS or not actions:
            self.problem((*path, "actions"), "exact: actions is a list of Create, Update, Delete")
        if "reconcile" in options:
            seconds = duration_seconds(options["reconcile"])
            if seconds is None or seconds < MIN_RECONCILE:
                self.problem(
                    (*path, "reconcile"),
                    f"exact: reconcile is how often the feed is read, {MIN_RECONCILE:g} s or more "
                    "(seconds, or e.g. 90s, 5m, 1h)",
                )

    def _http(self, options: Mapping[str, Any], path: Path) -> None:
        self.only(options, set(), path)

    def only(self, options: Mapping[str, Any], allowed: set[str], path: Path) -> None:
        for key in options:
            if key not in allowed:
                what = ", ".join(sorted(allowed)) or "nothing"
                self.problem((*path, key), f"unknown key {key!r} under {path[-1]}; it takes {what}")

    def steps(self, value: Any, trigger: Trigger) -> tuple[Step, ...]:
        if not isinstance(value, list) or not value:
            self.problem(("steps",), "steps: a list of steps, each with an id and an action")
            return ()
        seen: list[str] = []
        out: list[Step] = []
        checker = StaticCheck(self.catalogue)
        for index, raw in enumerate(value):
            step = self.step(raw, ("steps", index), seen, checker)
            if step is not None:
                out.append(step)
                seen.append(step.id)
        for where, message in checker.problems:
            self.problem(where, message)
        return tuple(out)

    def step(self, raw: Any, path: Path, seen: list[str], checker: StaticCheck) -> Step | None:
        if not isinstance(raw, Mapping):
            self.problem(path, "a step is a mapping with id, action and with")
            return None
        for key in raw:
            if key not in STEP_KEYS:
                self.problem(
                    (*path, key), f"unknown key {key!r} in a step; a step has {', '.join(sorted(STEP_KEYS))}"
                )
        step_id = raw.get("id")
        if not isinstance(step_id, str) or not STEP_ID.match(step_id):
            self.problem(
                (*path, "id"), "id: every step needs an id of letters, digits and _ (used as steps.<id>)"
            )
            step_id = f"step{path[-1]}"
        elif step_id in seen:
            self.problem((*path, "id"), f"id: {step_id!r} is the id of an earlier step too")
        action = raw.get("action")
        spec = ACTIONS.get(action) if isinstance(action, str) else None
        if spec is None:
            self.problem((*path, "action"), f"action: {action!r} is not one of {', '.join(sorted(ACTIONS))}")
        args = raw.get("with") or {}
        if not isinstance(args, Mapping):
            self.problem((*path, "with"), "with: the action's arguments, as a mapping")
            args = {}
        if spec is not None and not spec.free_arguments:
            for name in args:
                if name not in spec.allowed:
                    self.problem(
                        (*path, "with", name),
                        f"{action} takes no argument {name!r}; it takes "
                        f"{', '.join(sorted(spec.allowed)) or 'none'}",
                    )
            for name in sorted(spec.required - set(args)):
                self.problem((*path, "with"), f"{action} needs the argument {name!r}")
            checker.run(str(action), args, (*path, "with"))
        if "division" in args:
            self.division(args["division"], (*path, "with", "division"))
        on_error, retries = self.on_error(raw.get("on_error", "stop"), (*path, "on_error"))
        for_each = raw.get("for_each")
        if for_each is not None and not (isinstance(for_each, list) or expressions.is_template(for_each)):
            self.problem((*path, "for_each"), "for_each: an expression giving a list, or a list")
        condition = raw.get("if")
        if condition is not None and not isinstance(condition, bool | str):
            self.problem((*path, "if"), "if: an expression that is true or false")
        self.expressions(raw, path, seen, has_item=for_each is not None)
        return Step(
            id=step_id,
            action=str(action),
            args=dict(args),
            for_each=for_each,
            condition=condition,
            on_error=on_error,
            retries=retries,
        )

    def on_error(self, value: Any, path: Path) -> tuple[str, int]:
        if value in ("stop", "continue"):
            return str(value), 0
        if isinstance(value, Mapping) and set(value) == {"retry"}:
            times = value["retry"].get("times") if isinstance(value["retry"], Mapping) else None
            if isinstance(times, int) and not isinstance(times, bool) and 1 <= times <= MAX_RETRIES:
                return "retry", times
        self.problem(path, f"on_error: stop, continue, or retry: {{times: 1..{MAX_RETRIES}}}")
        return "stop", 0

    def expressions(self, raw: Mapping[str, Any], path: Path, seen: list[str], *, has_item: bool) -> None:
        for where, text in _strings({k: raw[k] for k in ("with", "for_each", "if") if k in raw}, path):
            if not expressions.is_template(text):
                continue
            problem, names, step_ids = expressions.check(text)
            if problem:
                self.problem(where, f"expression {problem}")
                continue
            for name in sorted(names - expressions.SCOPE_NAMES):
                self.problem(
                    where,
                    f"{text.strip()}: unknown name {name!r}; a flow can use trigger, steps, item and vars",
                )
            in_for_each = where[len(path)] == "for_each"
            if "item" in names and (not has_item or in_for_each):
                self.problem(where, f"{text.strip()}: item exists only inside a step with for_each")
            for step_id in sorted(step_ids):
                if step_id not in seen:
                    self.problem(
                        where,
                        f"{text.strip()}: no earlier step has the id {step_id!r} (a step can use "
                        "only the steps before it)",
                    )


def _strings(value: Any, path: Path) -> list[tuple[Path, str]]:
    if isinstance(value, str):
        return [(path, value)]
    if isinstance(value, Mapping):
        return [found for key, item in value.items() for found in _strings(item, (*path, key))]
    if isinstance(value, list):
        return [found for index, item in enumerate(value) for found in _strings(item, (*path, index))]
    return []

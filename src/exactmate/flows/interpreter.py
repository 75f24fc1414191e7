"""Running a flow's steps: each step's arguments resolved from the trigger and the steps before it,
its action run (once, or once per item of ``for_each``), and its outcome recorded.

The interpreter does not know where the steps' results are kept: the engine runs it inside a DBOS
workflow, handing each step to DBOS so that its record is checkpointed before the next step starts;
a dry run hands the steps to a plain function call. A step's record is plain JSON data: its resolved
inputs, its output, and for a failure the error's class and message (never a secret: flows are
given credentials by name only).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from exactmate.errors import ExactmateError, ValidationError
from exactmate.flows import expressions
from exactmate.flows.actions import ACTIONS, Call, plain
from exactmate.flows.definition import Flow, Step

if TYPE_CHECKING:
    from exactmate.config import Settings

Record = dict[str, Any]
StepRunner = Callable[[Step, Callable[[], Record]], Record]
"""Runs one step's work (the callable) and gives back its record: durably, or directly."""

ConnectionFor = Callable[[str | None], Any]
"""Opens (or reuses) the connection of a credential name (None: the vault's default)."""

MAX_SHOWN_INPUT = 2_000  # characters of a resolved input kept in the history


class FlowRunFailed(Exception):
    """A run that stopped at a failed step; the message says which and why."""


@dataclass
class Interpreter:
    flow: Flow
    trigger: Mapping[str, Any]
    connection_for: ConnectionFor
    run_id: str
    dry_run: bool = False
    settings: Settings | None = None
    vars: dict[str, Any] = field(default_factory=dict)
    outputs: dict[str, Any] = field(default_factory=dict)

    def run(self, runner: StepRunner) -> list[Record]:
        """Every step in order; raises ``FlowRunFailed`` after recording a failed step that stops."""
        records: list[Record] = []
        for step in self.flow.steps:
            record = runner(step, lambda step=step: self.execute(step))  # type: ignore[misc]
            records.append(record)
            self.absorb(step, record)
            if record["status"] == "failed" and step.on_error != "continue":
                error = record.get("error") or {}
                raise FlowRunFailed(
                    f"step {step.id} ({step.action}) failed: {error.get('message', 'unknown error')}"
                )
        return records

    def absorb(self, step: Step, record: Record) -> None:
        """What later steps see of ``step``: its output as ``steps.<id>``; ``set`` also fills ``vars``."""
        self.outputs[step.id] = record.get("output")
        if (
            step.action == "set"
            and record["status"] == "succeeded"
            and isinstance(record.get("output"), dict)
        ):
            self.vars.update(record["output"])

    def scope(self, item: Any = None, with_item: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {"trigger": self.trigger, "steps": self.outputs, "vars": self.vars}
        if with_item:
            out["item"] = item
        return out

    def execute(self, step: Step) -> Record:
        """Run ``step`` now and describe what happened (never raises for the step's own failure)."""
        started = time.time()
        record: Record = {"id": step.id, "action": step.action, "status": "succeeded", "started": started}
        sent_before: int | None = None
        try:
            sent_before = self._calls_sent(step)
            if step.condition is not None and not self._true(step.condition):
                record.update(status="skipped", reason="if was false")
            elif step.for_each is None:
                args = expressions.render(step.args, self.scope())
                record["inputs"] = _shown(args)
                record["output"] = self._run(step, args)
            else:
                record.update(self._each(step))
                if record["items"]["failed"]:
                    record["status"] = "failed"
                    record["error"] = record["items"]["errors"][0]
        except Exception as exc:  # the step's failure is its record; the run decides what follows
            record.update(status="failed", error=_error(exc))
        if sent_before is not None:
            record["calls"] = (self._calls_sent(step) or 0) - sent_before
        record["ended"] = time.time()
        return record

    def _calls_sent(self, step: Step) -> int | None:
        """The calls the flow's connection has sent so far, for a step that talks to Exact (a step's
        record keeps how many it made: retries included, the token endpoint not)."""
        if not ACTIONS[step.action].exact:
            return None
        sent: int = self.connection_for(self.flow.credential).client.calls_sent
        return sent

    def _true(self, condition: Any) -> bool:
        value = expressions.render(condition, self.scope())
        if isinstance(value, str):
            return value.strip().lower() not in ("", "false", "0", "no", "none")
        return bool(value)

    def _items(self, step: Step) -> list[Any]:
        items = expressions.render(step.for_each, self.scope())
        if not isinstance(items, list):
            raise ValidationError(f"for_each of step {step.id} gave {type(items).__name__}, not a list")
        return items

    def _each(self, step: Step) -> Record:
        items = self._items(step)
        spec = ACTIONS[step.action]
        if spec.batch:  # the items go together: one create of every entry, side by side and journaled
            entries = [expressions.render(step.args["fields"], self.scope(item, True)) for item in items]
            others = {k: v for k, v in step.args.items() if k != "fields"}
            args = {**expressions.render(others, self.scope()), "entries": entries}
            output = self._run(step, args)
            failed = (
                int(output.get("failed", 0)) + int(output.get("pending", 0)) + int(output.get("changed", 0))
            )
            rows: list[Record] = [
                {"class": "EntryFailed", "message": f"row {row}: {why}"}
                for row, why in dict(output.get("failures") or {}).items()
            ]
            return {
                "inputs": {"entries": len(entries)},
                "output": output,
                "items": {"done": len(entries) - failed, "failed": failed, "errors": rows[:20]},
            }
        outputs: list[Any] = []
        errors: list[Record] = []
        for index, item in enumerate(items):
            try:
                args = expressions.render(step.args, self.scope(item, True))
                outputs.append(self._run(step, args))
            except Exception as exc:
                errors.append({**_error(exc), "item": index})
                outputs.append(None)
                if step.on_error != "continue":
                    break
        done = len(outputs) - len(errors)
        return {
            "output": {"items": outputs, "count": len(outputs)},
            "items": {"done": done, "failed": len(errors), "errors": errors[:20]},
        }

    def _run(self, step: Step, args: Mapping[str, Any]) -> Any:
        spec = ACTIONS[step.action]
        arguments = dict(args)
        division = arguments.pop("division", self.flow.division) if spec.exact else None
        if step.action == "create_time_transactions" and "entries" not in arguments:
            arguments["entries"] = [arguments.pop("fields")]
        connection = self.connection_for(self.flow.credential) if spec.exact else None
        scope = f"flow:{self.flow.name}"
        call = Call(connection, arguments, division, self.dry_run and spec.writes, scope, self.settings)
        return spec.run(call)


def _error(exc: BaseException) -> Record:
    message = exc.message if isinstance(exc, ExactmateError) else str(exc)
    out: Record = {"class": type(exc).__name__, "message": message}
    if isinstance(exc, ValidationError) and exc.problems:
        out["problems"] = list(exc.problems)[:20]
    if isinstance(exc, ExactmateError) and exc.hint:
        out["hint"] = exc.hint
    return out


def _shown(args: Mapping[str, Any]) -> Any:
    """The resolved inputs as the history keeps them (long values cut)."""
    value = plain(args)
    text = repr(value)
    return value if len(text) <= MAX_SHOWN_INPUT else {"summary": text[:MAX_SHOWN_INPUT] + "…"}

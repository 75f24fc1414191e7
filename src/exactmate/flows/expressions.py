"""The Data Manager of a flow: ``{{ … }}`` expressions that map what the trigger and earlier steps
produced into a step's arguments.

Expressions run in Jinja2's sandbox with strict undefined values: a name or attribute that does not
exist is an error, never an empty string that would be booked. A value that is one whole expression
(``"{{ steps.project.records[0].ID }}"``) keeps its type (a number stays a number, a list a list);
text around or between expressions makes text. Only ``trigger``, ``steps``, ``item`` and ``vars``
are in scope: no environment, no files, no secrets, no Python.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from functools import lru_cache
from typing import Any

from jinja2 import StrictUndefined, TemplateSyntaxError, Undefined, UndefinedError, nodes
from jinja2.exceptions import SecurityError
from jinja2.sandbox import SandboxedEnvironment

SCOPE_NAMES = frozenset({"trigger", "steps", "item", "vars"})
_WHOLE = re.compile(r"^\s*\{\{(?P<expr>.*?)\}\}\s*$", re.DOTALL)


class _FlowEnvironment(SandboxedEnvironment):
    """The sandbox, where ``a.b`` on a mapping is always its key ``b``: a step called ``copy`` or an
    output field called ``items`` is data, never a method of Python's dict."""

    def getattr(self, obj: Any, attribute: str) -> Any:
        if isinstance(obj, Mapping):
            try:
                return obj[attribute]
            except KeyError:
                return self.undefined(obj=obj, name=attribute)
        return super().getattr(obj, attribute)


_ENV = _FlowEnvironment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True)


class ExpressionError(Exception):
    """An expression that cannot be read or evaluated; the message names the expression."""


def is_template(value: object) -> bool:
    return isinstance(value, str) and ("{{" in value or "{%" in value)


def render(value: Any, scope: Mapping[str, Any]) -> Any:
    """``value`` with every expression in it evaluated in ``scope`` (mappings and lists walked)."""
    if isinstance(value, str):
        return _render_text(value, scope) if is_template(value) else value
    if isinstance(value, Mapping):
        return {key: render(item, scope) for key, item in value.items()}
    if isinstance(value, list):
        return [render(item, scope) for item in value]
    return value


@lru_cache(maxsize=1024)
def _compiled(text: str) -> tuple[bool, Any]:
    """(whole expression?, its compiled form): compiled once per text, not once per item."""
    whole = _WHOLE.match(text)
    if whole is not None and "{{" not in whole.group("expr"):
        return True, _ENV.compile_expression(whole.group("expr"), undefined_to_none=False)
    return False, _ENV.from_string(text)


def _render_text(text: str, scope: Mapping[str, Any]) -> Any:
    try:
        whole, compiled = _compiled(text)
        if whole:
            result = compiled(**scope)
            if isinstance(result, Undefined):
                result._fail_with_undefined_error()
            return result
        return compiled.render(**scope)
    except UndefinedError as exc:
        raise ExpressionError(f"{text.strip()}: {exc.message}") from None
    except SecurityError as exc:
        raise ExpressionError(f"{text.strip()}: not allowed in a flow ({exc})") from None
    except TemplateSyntaxError as exc:
        raise ExpressionError(f"{text.strip()}: {exc.message}") from None
    except (TypeError, ValueError, ArithmeticError, LookupError) as exc:
        raise ExpressionError(f"{text.strip()}: {type(exc).__name__}: {exc}") from None


def check(text: str) -> tuple[str | None, set[str], set[str]]:
    """Read ``text`` without evaluating it: (syntax problem or None, names used from the scope,
    step ids referenced as ``steps.<id>`` or ``steps['<id>']``)."""
    try:
        source = _WHOLE.match(text)
        tree = _ENV.parse(text if source is None else "{{" + source.group("expr") + "}}")
    except TemplateSyntaxError as exc:
        return f"{text.strip()}: {exc.message}", set(), set()
    names = {n.name for n in tree.find_all(nodes.Name) if n.ctx == "load"}
    assigned = {n.name for n in tree.find_all(nodes.Name) if n.ctx in ("store", "param")}
    return None, names - assigned, set(_step_ids(tree))


def _step_ids(tree: nodes.Node) -> Iterator[str]:
    for node in tree.find_all((nodes.Getattr, nodes.Getitem)):
        target = getattr(node, "node", None)
        if not (isinstance(target, nodes.Name) and target.name == "steps"):
            continue
        if isinstance(node, nodes.Getattr):
            yield node.attr
        elif isinstance(node, nodes.Getitem):
            key = getattr(node.arg, "value", None)
            if isinstance(key, str):
                yield key

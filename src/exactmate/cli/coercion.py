"""Converting a command's plain arguments and options without pydantic.

Typer converts the value of every parameter that is not a flag through a pydantic ``TypeAdapter``
built on first use, even when the value is absent. Importing pydantic and building an adapter take
about as long as ``import typer`` itself, which made ``exactmate vault list`` on an empty vault
3.3 times ``import typer`` (issue 17, item 1; ``bench/startup.py``) where the command's own work is
a few milliseconds.

Most of exactmate's parameters are text, a choice (an ``Enum``), a whole number or a path.
``plain_params`` gives each of those a ``PlainParam``: it converts a value whose conversion is plain
(a text, a choice spelled as one of its values, a number written in digits within its bounds, a path
that passes Typer's checks) with Typer's own pydantic-free pieces, and hands any other value to
Typer's usual conversion, so what a user sees for a wrong value (the message, the exit code) is
Typer's, word for word. Parameters of other kinds (files, lists, dates, custom parsers) keep Typer's
conversion untouched.

This sets the conversion Typer caches on each parameter (``_TyperParameter._runtime_param``),
a private attribute of Typer 0.29 (pinned in ``constraints.txt``); ``tests/cli/test_coercion.py``
fails if Typer stops using it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any, Literal

from typer import _click as click
from typer._coercion import RuntimeParam, build_runtime_param
from typer._param_types import coerce_cli_choice, coerce_cli_path
from typer._typing import is_literal_type, literal_values
from typer.core import TyperGroup, _TyperParameter

Kind = Literal["text", "choice", "whole", "path"]

_DIGITS = frozenset("0123456789")


def _kind(param: _TyperParameter) -> Kind | None:
    """Which plain kind ``param`` is, or None when Typer's own conversion should do all of it."""
    descriptor = param.type_descriptor
    info = descriptor.parameter_info
    if descriptor.file_annotation is not None or info.parser is not None:
        return None
    annotation = descriptor.annotation
    if annotation is str:
        return "text"
    if (isinstance(annotation, type) and issubclass(annotation, Enum)) or is_literal_type(annotation):
        return "choice"
    if annotation is int and not info.clamp:
        return "whole"
    if annotation is Path and info.path_type is None:
        return "path"
    return None


@dataclass(frozen=True)
class PlainParam(RuntimeParam):
    """A text, choice, whole-number or path parameter's conversion, Typer's for any value not plain."""

    kind: Kind

    def _coerce_value(self, value: Any, param: _TyperParameter, ctx: click.Context) -> Any:
        converted = self._plain(value, param, ctx)
        if converted is not _NOT_PLAIN:
            return converted
        typers = build_runtime_param(param.type_descriptor)
        param._runtime_param = typers  # later values go straight to Typer's conversion
        return typers._coerce_value(value, param=param, ctx=ctx)

    def _plain(self, value: Any, param: _TyperParameter, ctx: click.Context) -> Any:
        if self.kind == "path":
            # Typer's own path checks (exists, file or folder, writable...), given a Path: a text
            # would go through pydantic first to become one.
            if not (isinstance(value, Path) or (isinstance(value, str) and value and "\0" not in value)):
                return _NOT_PLAIN
            try:
                return coerce_cli_path(Path(value), self.parameter_info, path_type=Path, param=param, ctx=ctx)
            except click.exceptions.BadParameter:
                return _NOT_PLAIN  # Typer's conversion says what is wrong, in its words
        if self.kind == "text":
            return value if isinstance(value, str) else _NOT_PLAIN
        if self.kind == "choice":
            choices = (
                tuple(self.annotation)
                if isinstance(self.annotation, type) and issubclass(self.annotation, Enum)
                else literal_values(self.annotation)
            )
            try:
                return coerce_cli_choice(
                    value, choices=choices, case_sensitive=self.parameter_info.case_sensitive, ctx=ctx
                )
            except ValueError:
                return _NOT_PLAIN
        if isinstance(value, bool):
            return _NOT_PLAIN
        if isinstance(value, int):
            number = value
        elif isinstance(value, str) and _written_in_digits(value):
            number = int(value)
        else:
            return _NOT_PLAIN
        low, high = self.parameter_info.min, self.parameter_info.max
        if (low is not None and number < low) or (high is not None and number > high):
            return _NOT_PLAIN
        return number


_NOT_PLAIN: Any = object()


def _written_in_digits(text: str) -> bool:
    """A whole number in ASCII digits, perhaps with a minus sign: what ``int`` and Typer agree on."""
    digits = text.removeprefix("-")
    return bool(digits) and _DIGITS.issuperset(digits)


def absent_help_is_false(option: click.Parameter | None) -> click.Parameter | None:
    """A command's help flag, whose value is False when it is not given (Typer leaves it None, and
    would convert that None through pydantic, as it does any parameter whose value is not a bool)."""
    if option is not None and option.default is None:
        option.default = False
    return option


def plain_params(command: click.Command) -> click.Command:
    """Give ``command``'s plain parameters, and those of the commands under it, a ``PlainParam``,
    and their help flags the value False when absent."""
    for param in command.params:
        if isinstance(param, _TyperParameter) and param._runtime_param is None:
            kind = _kind(param)
            if kind is not None:
                descriptor = param.type_descriptor
                param._runtime_param = PlainParam(
                    annotation=descriptor.annotation, parameter_info=descriptor.parameter_info, kind=kind
                )
    typers_help_option = command.get_help_option

    def get_help_option(ctx: click.Context) -> click.Parameter | None:
        return absent_help_is_false(typers_help_option(ctx))

    command.get_help_option = get_help_option  # type: ignore[method-assign,assignment]
    if isinstance(command, TyperGroup):
        for sub in command.commands.values():
            plain_params(sub)
    return command

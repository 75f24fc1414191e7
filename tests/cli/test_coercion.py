"""Plain arguments and options are converted without pydantic, to what Typer would make of them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer import _click as click
from typer._coercion import build_runtime_param
from typer.core import TyperCommand, TyperGroup, _TyperParameter
from typer.testing import CliRunner

from exactmate.cli import app
from exactmate.cli.coercion import PlainParam
from exactmate.cli.commands import COMMANDS, load


def _every_param() -> list[tuple[str, _TyperParameter]]:
    found: list[tuple[str, _TyperParameter]] = []

    def walk(path: str, command: click.Command) -> None:
        found.extend((f"{path} {p.name}", p) for p in command.params if isinstance(p, _TyperParameter))
        if isinstance(command, TyperGroup):
            for name, sub in command.commands.items():
                walk(f"{path} {name}", sub)

    for name in COMMANDS:
        walk(name, load(name))
    return found


EVERY_PARAM = _every_param()
PLAIN = [(label, p) for label, p in EVERY_PARAM if isinstance(p._runtime_param, PlainParam)]


def _typers(param: _TyperParameter, value: Any) -> tuple[str, Any]:
    ctx = click.Context(TyperCommand(name="x"))
    try:
        return "ok", build_runtime_param(param.type_descriptor)._coerce_value(value, param=param, ctx=ctx)
    except click.exceptions.BadParameter as refused:
        return "refused", refused.message


def _ours(param: _TyperParameter, value: Any) -> tuple[str, Any]:
    ctx = click.Context(TyperCommand(name="x"))
    plain = param._runtime_param
    assert isinstance(plain, PlainParam)
    saved = param._runtime_param
    try:
        return "ok", plain._coerce_value(value, param=param, ctx=ctx)
    except click.exceptions.BadParameter as refused:
        return "refused", refused.message
    finally:
        param._runtime_param = saved  # a value handed to Typer replaces the cached conversion


def test_the_commands_plain_parameters_get_the_plain_conversion() -> None:
    kinds = {p._runtime_param.kind for _, p in PLAIN if isinstance(p._runtime_param, PlainParam)}
    assert kinds == {"text", "choice", "whole", "path"}
    assert len(PLAIN) > 50  # most of the commands' parameters
    labels = {label for label, _ in PLAIN}
    assert {"vault list search", "vault list fmt", "get endpoint", "get output"} <= labels


def _samples(param: _TyperParameter) -> list[Any]:
    plain = param._runtime_param
    assert isinstance(plain, PlainParam)
    if plain.kind == "choice":
        choices = [getattr(c, "value", c) for c in param.type_descriptor.choices or ()]
        spelled = [str(c) for c in choices]
        return [*spelled, *(s.upper() for s in spelled), *(s.title() for s in spelled), "nope", ""]
    if plain.kind == "whole":
        return [
            "0",
            "1",
            "7",
            "60",
            "-1",
            "007",
            "5000",
            "99999999",
            "",
            "-",
            "1.5",
            "x",
            " 3",
            "+3",
            "1_0",
            True,
        ]
    if plain.kind == "path":
        here = Path(__file__)
        return [str(here), str(here.parent), "no/such/file.csv", "-", "", "a\0b", here, "~/x", Path("-")]
    return ["", "text", "Ünïcode", "-", "  spaced  "]


@pytest.mark.parametrize(("label", "param"), PLAIN, ids=[label for label, _ in PLAIN])
def test_a_plain_conversion_gives_what_typers_gives_for_every_value(
    label: str, param: _TyperParameter
) -> None:
    for value in _samples(param):
        assert _ours(param, value) == _typers(param, value), (label, value)


def test_typers_conversion_still_answers_what_is_not_plain() -> None:
    runner = CliRunner()
    bad_choice = runner.invoke(app, ["vault", "list", "--format", "xml"])
    assert bad_choice.exit_code == 2 and "'xml' is not one of 'table', 'json'" in _said(bad_choice.output)
    out_of_range = runner.invoke(app, ["vault", "test", "any", "--division", "0"])
    assert out_of_range.exit_code == 2 and "greater than or equal to 1" in _said(out_of_range.output)


def _said(output: str) -> str:
    """The words of an error panel, its frame and line breaks taken away."""
    return " ".join(output.replace("│", " ").split())


def test_listing_a_vault_with_options_imports_no_pydantic(tmp_path) -> None:
    """Typer 0.29 builds a pydantic adapter for every parameter whose value is not a bool, unless
    ``cli/coercion.py`` gave it its conversion through Typer's private ``_runtime_param``: if Typer
    stops reading that attribute, pydantic comes back and this fails (issue 17, item 1)."""
    script = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from exactmate.cli import app\n"
        "for args in (['vault', 'list'], ['vault', 'list', 'acme', '--format', 'json']):\n"
        "    result = CliRunner().invoke(app, args)\n"
        "    assert result.exit_code == 0, result.output\n"
        "print('pydantic' in sys.modules)\n"
    )
    env = {**os.environ, "EXACTMATE_HOME": str(tmp_path / "fresh")}
    ran = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, env=env)
    assert ran.stdout.strip() == "False"

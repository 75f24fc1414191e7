"""The deployment examples (``examples/deploy/``) stay runnable: the compose file parses, every
``exactmate`` command they run is one the command line has, and every option they give is one that
command knows (a renamed option breaks this test, not a user's deployment)."""

from __future__ import annotations

import configparser
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml

from exactmate.cli import app

DEPLOY = Path(__file__).resolve().parents[2] / "examples" / "deploy"


def _exactmate_commands() -> list[list[str]]:
    """Every ``exactmate …`` command line of the examples, as its arguments after ``exactmate``."""
    found: list[list[str]] = []
    words: list[str]
    compose: dict[str, Any] = yaml.safe_load((DEPLOY / "compose.yaml").read_text(encoding="utf-8"))
    for service in compose["services"].values():
        for command in (service.get("command"), (service.get("healthcheck") or {}).get("test")):
            words = list(command or [])[1:] if command and command[0] == "CMD" else list(command or [])
            if words and words[0] == "exactmate":
                found.append(words[1:])
    for unit in sorted(DEPLOY.glob("*.service")):
        parser = configparser.ConfigParser(interpolation=None, strict=False)
        parser.optionxform = str  # type: ignore[assignment,method-assign]
        parser.read_string(unit.read_text(encoding="utf-8"))
        for key in ("ExecStartPre", "ExecStart"):
            line = parser["Service"].get(key)
            if line:
                words = shlex.split(line.replace("%H", "host").replace("%i", "1"))
                assert words[0].endswith("/exactmate"), (unit.name, line)
                found.append(words[1:])
    return found


def test_the_compose_file_parses_and_names_its_services() -> None:
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text(encoding="utf-8"))
    services = compose["services"]
    assert {"postgres", "worker-1", "worker-2", "worker-3", "serve", "ui"} <= set(services)
    ids = [
        s["command"][s["command"].index("--executor-id") + 1] for n, s in services.items() if "worker" in n
    ]
    assert len(ids) == len(set(ids)) == 3  # each worker its own stable executor id
    for name in ("worker-1", "serve", "ui"):
        assert "EXACTMATE_DB" in services[name]["environment"], name


@pytest.mark.parametrize("args", _exactmate_commands(), ids=lambda a: " ".join(a[:2]))
def test_every_command_of_the_examples_exists_with_its_options(args: list[str]) -> None:
    import typer
    from typer._click.core import Context

    command: Any = typer.main.get_command(app)
    context = Context(command)
    for word in args:  # down the groups: "worker", or "flow" then "serve"
        found = command.get_command(context, word)
        assert found is not None, f"exactmate has no command {word!r} ({args})"
        command, context = found, Context(found, parent=context)
        if not hasattr(command, "get_command"):
            break
    known = {name for param in command.params for name in param.opts}
    given = [a.split("=")[0] for a in args if a.startswith("-")]
    assert set(given) <= known, (args, sorted(set(given) - known))

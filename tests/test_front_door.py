"""``import exactmate``: the names a script needs, imported on first use, and nothing heavy up front."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import exactmate
from exactmate import actions, client, config, errors, odata, vault

INTENDED = {
    "__version__",
    "ExactClient",
    "F",
    "Settings",
    "Vault",
    "Credential",
    "create_time_transactions",
    "update_time_transaction",
    "delete_record",
    "get_record",
    "list_records",
    "open_connection",
    "run_test_connect",
    *(name for name in dir(errors) if name.endswith(("Error", "Exceeded", "Required"))),
}


def test_the_exported_names_are_the_intended_ones() -> None:
    assert set(exactmate.__all__) == INTENDED
    assert set(dir(exactmate)) >= INTENDED


def test_type_checkers_see_the_same_names_as_the_lazy_import() -> None:
    # The TYPE_CHECKING imports (what editors and mypy see) and the lazy table must name the same
    # objects from the same modules.
    tree = ast.parse(Path(exactmate.__file__).read_text(encoding="utf-8"))
    guarded = next(n for n in tree.body if isinstance(n, ast.If) and ast.unparse(n.test) == "TYPE_CHECKING")
    seen = {
        alias.name: node.module
        for node in guarded.body
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
    }
    assert seen == exactmate._HOMES


def test_every_exported_name_is_the_object_from_its_home() -> None:
    homes = (actions, client, config, errors, odata, vault)
    for name in exactmate.__all__:
        if name == "__version__":
            continue
        value = getattr(exactmate, name)
        assert any(getattr(home, name, None) is value for home in homes), name
    assert issubclass(exactmate.ValidationError, exactmate.ExactmateError)


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'Clientt'"):
        exactmate.Clientt  # noqa: B018


def _loaded_after(statement: str) -> set[str]:
    code = f"import sys; {statement}; print('\\n'.join(sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    return set(out.split())


HEAVY = {"httpx", "sqlalchemy", "fastapi", "starlette", "cryptography", "rich", "typer", "exactmate.client"}


def test_import_exactmate_pulls_in_nothing_heavy() -> None:
    assert not HEAVY & _loaded_after("import exactmate")


def test_a_name_imports_only_what_it_needs() -> None:
    loaded = _loaded_after("import exactmate; exactmate.ValidationError")
    assert "exactmate.errors" in loaded and not HEAVY & loaded
    assert "exactmate.client" in _loaded_after("import exactmate; exactmate.ExactClient")

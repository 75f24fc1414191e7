"""Which credential an action uses when none is named: the only one, else the default one."""

from __future__ import annotations

from pathlib import Path

import pytest

from exactmate.actions import pick_credential
from exactmate.errors import VaultError
from exactmate.store import Store, new_id


def add(store: Store, name: str, *, default: bool = False) -> None:
    store.insert_credential(
        id=new_id(),
        name=name,
        server_url="https://start.exactonline.nl",
        client_id="3f2504e0-4f89-11d3-9a0c-0305e82c3301",
        client_secret=b"sealed elsewhere",
        redirect_uri="http://127.0.0.1:8400/oauth/callback",
        is_default=default,
    )


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(f"sqlite:///{tmp_path / 'c.db'}")


def test_an_empty_vault_says_how_to_add_one(store: Store) -> None:
    with pytest.raises(VaultError, match="holds no credential") as info:
        pick_credential(store, None)
    assert "exactmate vault add" in str(info.value)


def test_the_only_credential_is_used(store: Store) -> None:
    add(store, "Acme NL")
    assert pick_credential(store, None).name == "Acme NL"
    assert pick_credential(store, "  acme nl ").name == "Acme NL"


def test_several_need_a_name_or_a_default(store: Store) -> None:
    add(store, "Acme NL")
    add(store, "Acme BE")
    with pytest.raises(VaultError, match=r"several credentials \(Acme BE, Acme NL\)") as info:
        pick_credential(store, None)
    assert "--credential NAME" in str(info.value) and "exactmate vault default" in str(info.value)
    add(store, "Main", default=True)
    assert pick_credential(store, None).name == "Main"
    with pytest.raises(VaultError, match="No credential named 'Acme' .known: Acme BE, Acme NL, Main."):
        pick_credential(store, "Acme")

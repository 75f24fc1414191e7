"""The secret box: AES-256-GCM bound to the record id, key ids in front, a key ring that rotates."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from exactmate.config import Settings
from exactmate.errors import SecretBoxError
from exactmate.secretbox import NONCE_BYTES, KeyFile, KeyRing, SecretBox, derive_kid, split_blob

KEY = bytes(range(32))
AAD = "credential:1234:client_secret"


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_round_trip_with_key_id_in_front() -> None:
    box = SecretBox(KeyRing.from_master_key(KEY))
    blob = box.encrypt("s3cr3t-value", AAD)
    assert blob.startswith(box.primary_kid.encode() + b";")  # ";": sealed with the connection values bound
    assert b"s3cr3t-value" not in blob
    assert box.decrypt(blob, AAD) == "s3cr3t-value"
    assert len(split_blob(blob)[1]) == NONCE_BYTES + len("s3cr3t-value") + 16


def test_every_encryption_uses_a_fresh_nonce() -> None:
    box = SecretBox(KeyRing.from_master_key(KEY))
    assert box.encrypt("same", AAD) != box.encrypt("same", AAD)


def test_unicode_round_trips() -> None:
    box = SecretBox(KeyRing.from_master_key(KEY))
    assert box.decrypt(box.encrypt("ünïcødé ✓", AAD), AAD) == "ünïcødé ✓"


def test_ciphertext_moved_to_another_record_does_not_open() -> None:
    box = SecretBox(KeyRing.from_master_key(KEY))
    blob = box.encrypt("s3cr3t-value", AAD)
    with pytest.raises(SecretBoxError) as info:
        box.decrypt(blob, "credential:9999:client_secret")
    assert "copied from another record" in str(info.value)
    assert "s3cr3t-value" not in str(info.value)


def test_tampered_ciphertext_is_refused() -> None:
    box = SecretBox(KeyRing.from_master_key(KEY))
    blob = bytearray(box.encrypt("s3cr3t-value", AAD))
    blob[-1] ^= 0x01
    with pytest.raises(SecretBoxError, match="failed its integrity check"):
        box.decrypt(bytes(blob), AAD)


@pytest.mark.parametrize(
    "blob", [b"", b"no-separator", b"kid:short", b"bad kid!:" + bytes(40), b"plain text value"]
)
def test_blobs_that_are_not_ciphertexts_are_refused(blob: bytes) -> None:
    box = SecretBox(KeyRing.from_master_key(KEY))
    with pytest.raises(SecretBoxError, match="not an exactmate ciphertext"):
        box.decrypt(blob, AAD)


def test_missing_key_is_named() -> None:
    old = SecretBox(KeyRing.from_master_key(KEY))
    new = SecretBox(KeyRing.from_master_key(bytes(32)))
    blob = old.encrypt("s3cr3t-value", AAD)
    with pytest.raises(SecretBoxError) as info:
        new.decrypt(blob, AAD)
    assert old.primary_kid in str(info.value)
    assert "EXACTMATE_MASTER_KEY" in str(info.value)  # where the ring came from


def test_key_id_is_derived_from_the_key() -> None:
    assert derive_kid(KEY) == derive_kid(bytes(KEY))
    assert derive_kid(KEY) != derive_kid(bytes(32))
    assert KeyRing.from_master_key(KEY).primary_kid == derive_kid(KEY)
    assert KEY.hex() not in derive_kid(KEY)


def test_key_ring_validates_its_keys() -> None:
    with pytest.raises(SecretBoxError, match="not 32 bytes"):
        KeyRing({"k1": b"short"}, "k1")
    with pytest.raises(SecretBoxError, match="malformed"):
        KeyRing({"bad:id": KEY}, "bad:id")
    with pytest.raises(SecretBoxError, match="primary key id 'k2'"):
        KeyRing({"k1": KEY}, "k2")


def test_reprs_hold_no_key_material() -> None:
    box = SecretBox(KeyRing.from_master_key(KEY))
    assert KEY.hex() not in repr(box) and repr(KEY) not in repr(box)
    assert box.primary_kid in repr(box)


def test_key_file_is_created_on_first_use_with_mode_0600(tmp_path: Path) -> None:
    path = tmp_path / "home" / "master.key"
    ring = KeyFile(path).load_or_create()
    assert _mode(path) == 0o600
    assert _mode(path.parent) == 0o700
    data = json.loads(path.read_text())
    assert data["primary"] == ring.primary_kid and len(data["keys"]) == 1
    again = KeyFile(path).load_or_create()
    assert again.primary_kid == ring.primary_kid and again.key(ring.primary_kid) == ring.key(ring.primary_kid)
    assert [p.name for p in path.parent.iterdir()] == ["master.key"]  # no temp file left behind


def test_add_key_rotates_and_old_ciphertexts_stay_readable(tmp_path: Path) -> None:
    key_file = KeyFile(tmp_path / "master.key")
    old_box = SecretBox(key_file.load_or_create())
    blob = old_box.encrypt("s3cr3t-value", AAD)
    new_ring = key_file.add_key()
    assert new_ring.primary_kid != old_box.primary_kid
    assert set(new_ring.kids) == {old_box.primary_kid, new_ring.primary_kid}
    assert _mode(key_file.path) == 0o600
    new_box = SecretBox(key_file.load())
    assert new_box.primary_kid == new_ring.primary_kid
    assert new_box.decrypt(blob, AAD) == "s3cr3t-value"
    assert new_box.needs_reencrypt(blob)
    fresh = new_box.reencrypt(blob, AAD)
    assert not new_box.needs_reencrypt(fresh)
    assert new_box.reencrypt(fresh, AAD) is fresh
    assert new_box.decrypt(fresh, AAD) == "s3cr3t-value"


def test_add_key_with_a_given_key_and_refuses_duplicates(tmp_path: Path) -> None:
    key_file = KeyFile(tmp_path / "master.key")
    ring = key_file.add_key(KEY)
    assert ring.primary_kid == derive_kid(KEY)
    with pytest.raises(SecretBoxError, match="already in"):
        key_file.add_key(KEY)


def test_key_file_readable_by_others_is_refused(tmp_path: Path) -> None:
    key_file = KeyFile(tmp_path / "master.key")
    key_file.load_or_create()
    os.chmod(key_file.path, 0o644)
    with pytest.raises(SecretBoxError) as info:
        key_file.load()
    assert "can be read by other users" in str(info.value) and "chmod 600" in str(info.value)


@pytest.mark.parametrize(
    "content", ["not json", "[]", '{"version": 2}', '{"version": 1, "keys": [{"kid": "a"}]}']
)
def test_malformed_key_file_is_refused(tmp_path: Path, content: str) -> None:
    path = tmp_path / "master.key"
    path.write_text(content)
    os.chmod(path, 0o600)
    with pytest.raises(SecretBoxError, match="key file"):
        KeyFile(path).load()


def test_from_settings_prefers_the_master_key_and_then_creates_no_file(tmp_path: Path) -> None:
    settings = Settings.from_env({}, home=tmp_path, master_key=KEY)
    box = SecretBox.from_settings(settings)
    assert box.primary_kid == derive_kid(KEY)
    assert not settings.key_file.exists()


def test_from_settings_uses_the_key_file_under_home(tmp_path: Path) -> None:
    settings = Settings.from_env({}, home=tmp_path / "home")
    box = SecretBox.from_settings(settings)
    assert settings.key_file.exists()
    blob = box.encrypt("x", AAD)
    assert SecretBox.from_settings(settings).decrypt(blob, AAD) == "x"


def test_a_running_box_reads_keys_added_by_another_process(tmp_path: Path) -> None:
    settings = Settings.from_env({}, home=tmp_path / "home")
    long_running = SecretBox.from_settings(settings)  # e.g. the web UI, started before the rotation
    KeyFile(settings.key_file).add_key()  # `exactmate vault rotate-key` in another process
    rotated = SecretBox.from_settings(settings)
    blob = rotated.encrypt("secret", AAD)
    assert rotated.primary_kid not in long_running.keyring.kids
    assert long_running.decrypt(blob, AAD) == "secret"


def test_a_key_that_is_nowhere_is_still_named(tmp_path: Path) -> None:
    settings = Settings.from_env({}, home=tmp_path / "home")
    box = SecretBox.from_settings(settings)
    foreign = SecretBox(KeyRing.from_master_key(b"k" * 32)).encrypt("secret", AAD)
    with pytest.raises(SecretBoxError, match="not in key file"):
        box.decrypt(foreign, AAD)

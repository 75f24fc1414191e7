"""Encryption for every secret the store keeps: AES-256-GCM under a key ring.

A ciphertext is ``b"<kid>;" + nonce (12 bytes) + AES-GCM output``. The key id in front says which
key of the ring sealed it, so the master key can rotate while old ciphertexts stay readable; the
associated data (the store's ``SecretBinding``: the record's id, column and connection values) is
checked on opening, so a ciphertext copied onto another record or column, or a record whose server
URL was changed behind exactmate's back, fails to decrypt instead of leaking. A ``:`` after the
key id marks a ciphertext of exactmate before the connection values were bound: it opens only with
``legacy_aad``, which the one-time upgrade of such ciphertexts gives.

Keys come from ``EXACTMATE_MASTER_KEY`` (one key; its id is derived from a hash of the key) or
from a key file under ``EXACTMATE_HOME`` created on first use with mode 0600. The key file is JSON
(``{"version": 1, "primary": kid, "keys": [{"kid", "key" (base64), "created_at"}]}``); ``add_key``
appends a new primary and rewrites the file atomically, for ``vault rotate-key``.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import re
import secrets
import stat
import tempfile
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from exactmate.config import MASTER_KEY_BYTES, Settings
from exactmate.errors import SecretBoxError

try:  # POSIX: serialise rewrites of the key file between processes
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

NONCE_BYTES = 12
BOUND = b";"  # between the key id and the nonce: sealed with the connection values bound
_KID_RE = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
_KEY_FILE_VERSION = 1


def derive_kid(key: bytes) -> str:
    """A stable, non-reversible id for a key: the same key always gets the same id."""
    return "k" + hashlib.sha256(b"exactmate key id\x00" + key).hexdigest()[:12]


def new_key() -> bytes:
    """A fresh random 256-bit key."""
    return secrets.token_bytes(MASTER_KEY_BYTES)


class KeyRing:
    """Keys by id: one primary that encrypts, all of them decrypt. Immutable.

    ``source`` tells a user where the keys came from, for error messages.
    """

    def __init__(self, keys: Mapping[str, bytes], primary: str, *, source: str = "the key ring") -> None:
        for kid, key in keys.items():
            if not _KID_RE.match(kid):
                raise SecretBoxError(
                    f"key id {kid!r} in {source} is malformed: use 1-32 letters, digits, - or _"
                )
            if len(key) != MASTER_KEY_BYTES:
                raise SecretBoxError(f"key {kid!r} in {source} is not {MASTER_KEY_BYTES} bytes long")
        if primary not in keys:
            raise SecretBoxError(f"primary key id {primary!r} is not among the keys in {source}")
        self._keys = dict(keys)
        self.primary_kid = primary
        self.source = source

    def __repr__(self) -> str:
        return f"KeyRing(kids={sorted(self._keys)!r}, primary={self.primary_kid!r}, source={self.source!r})"

    @classmethod
    def from_master_key(cls, key: bytes, *, source: str = "EXACTMATE_MASTER_KEY") -> KeyRing:
        """A ring of one key, with its id derived from the key itself."""
        kid = derive_kid(key)
        return cls({kid: key}, kid, source=source)

    @property
    def kids(self) -> tuple[str, ...]:
        return tuple(self._keys)

    def key(self, kid: str) -> bytes:
        """The key with this id; SecretBoxError naming the id when the ring lacks it."""
        try:
            return self._keys[kid]
        except KeyError:
            raise SecretBoxError(
                f"this secret was encrypted with key id {kid!r}, which is not in {self.source}",
                hint="restore the key file (or EXACTMATE_MASTER_KEY) that held that key, "
                "or store the secret again with exactmate vault",
            ) from None

    def with_primary(self, kid: str, key: bytes) -> KeyRing:
        """A new ring with ``key`` added as the primary."""
        return KeyRing({**self._keys, kid: key}, kid, source=self.source)


class KeyFile:
    """The key ring kept in a JSON file with mode 0600, created on first use."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._source = f"key file {path}"

    def load_or_create(self, sealed: Callable[[], set[str]] = set) -> KeyRing:
        """The ring in the file, creating the file with one fresh key if it does not exist yet.

        ``sealed`` names the key ids stored secrets were sealed under: when there are any, a missing
        file was lost (deleted, or ``EXACTMATE_HOME`` points elsewhere), and a new key would only make
        those secrets unreadable for good, so it is refused with the way back."""
        if not self.path.exists():
            kids = sorted(sealed())
            if kids:
                raise SecretBoxError(
                    f"{self._source} is missing, but the database holds secrets sealed under key "
                    f"{', '.join(kids)}; a new key file would leave them unreadable",
                    hint=f"restore {self.path} from a backup (or set EXACTMATE_MASTER_KEY to that key); "
                    "if it is lost for good, move the database aside and add the credentials again",
                )
            self._create()
        return self.load()

    def load(self) -> KeyRing:
        """The ring in the file; SecretBoxError if it is missing, unreadable, too open or malformed."""
        self._check_mode()
        try:
            data = json.loads(self.path.read_text("utf-8"))
        except FileNotFoundError:
            raise SecretBoxError(
                f"{self._source} does not exist", hint="set EXACTMATE_HOME correctly"
            ) from None
        except (OSError, ValueError) as exc:
            raise SecretBoxError(f"cannot read {self._source}: {type(exc).__name__}") from None
        return self._parse(data)

    def prune(self, keep: set[str]) -> tuple[str, ...]:
        """Remove the keys other than the primary that no stored secret uses (``keep``: the key ids
        still in use); the ids removed. After a rotation re-encrypted everything, a retired key is
        only a liability."""
        with self._exclusive():
            ring = self.load()
            unused = tuple(kid for kid in ring.kids if kid != ring.primary_kid and kid not in keep)
            if unused:
                kept = {kid: ring.key(kid) for kid in ring.kids if kid not in unused}
                pruned = KeyRing(kept, ring.primary_kid, source=self._source)
                self._write_replace(self._serialise(pruned, previous=self._entries()))
        return unused

    def add_key(self, key: bytes | None = None) -> KeyRing:
        """Append ``key`` (default: a fresh random one) as the new primary; rewrite the file atomically.

        Older keys stay in the file so existing ciphertexts remain readable until re-encrypted.
        """
        key = key if key is not None else new_key()
        with self._exclusive():
            ring = self.load_or_create()
            kid = derive_kid(key)
            if kid in ring.kids:
                raise SecretBoxError(f"key {kid!r} is already in {self._source}")
            ring = ring.with_primary(kid, key)
            self._write_replace(self._serialise(ring, previous=self._entries()))
        return ring

    # -- file handling -------------------------------------------------------------------------

    def _create(self) -> None:
        """Create the file atomically: a complete temp file is hard-linked into place.

        ``os.link`` fails if another process got there first, in which case its file wins and no
        process ever reads a half-written key file.
        """
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        key = new_key()
        ring = KeyRing.from_master_key(key, source=self._source)
        tmp = self._write_temp(self._serialise(ring, previous=[]))
        try:
            os.link(tmp, self.path)
        except FileExistsError:
            pass
        except OSError as exc:
            raise SecretBoxError(f"cannot create {self._source}: {exc.strerror}") from None
        finally:
            tmp.unlink(missing_ok=True)

    def _write_replace(self, text: str) -> None:
        tmp = self._write_temp(text)
        try:
            os.replace(tmp, self.path)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise SecretBoxError(f"cannot rewrite {self._source}: {exc.strerror}") from None

    def _write_temp(self, text: str) -> Path:
        try:
            fd, name = tempfile.mkstemp(prefix=".master.key.", dir=self.path.parent)  # mode 0600
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(text)
                handle.flush()
                os.fsync(handle.fileno())
        except OSError as exc:
            raise SecretBoxError(f"cannot write {self._source}: {exc.strerror}") from None
        return Path(name)

    @contextlib.contextmanager
    def _exclusive(self) -> Iterator[None]:
        """Serialise read-modify-write of the key file between processes (POSIX only)."""
        if fcntl is None:  # pragma: no cover - Windows
            yield
            return
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        lock_path = self.path.with_name(self.path.name + ".lock")
        fd = os.open(lock_path, os.O_CREAT | os.O_RDWR, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def _check_mode(self) -> None:
        """Refuse a key file that others can read, like ssh does with private keys."""
        if os.name != "posix":  # pragma: no cover - modes mean nothing elsewhere
            return
        try:
            mode = stat.S_IMODE(self.path.stat().st_mode)
        except FileNotFoundError:
            return
        if mode & 0o077:
            raise SecretBoxError(
                f"{self._source} can be read by other users (mode {mode:o})",
                hint=f"run: chmod 600 {self.path}",
            )

    # -- format --------------------------------------------------------------------------------

    def _entries(self) -> list[dict[str, Any]]:
        entries = json.loads(self.path.read_text("utf-8"))["keys"]
        return [dict(e) for e in entries]

    @staticmethod
    def _serialise(ring: KeyRing, *, previous: list[dict[str, Any]]) -> str:
        created = {e["kid"]: e.get("created_at") for e in previous}
        now = datetime.now(UTC).isoformat(timespec="seconds")
        entries = [
            {
                "kid": kid,
                "key": base64.b64encode(ring.key(kid)).decode("ascii"),
                "created_at": created.get(kid) or now,
            }
            for kid in ring.kids
        ]
        return json.dumps(
            {"version": _KEY_FILE_VERSION, "primary": ring.primary_kid, "keys": entries}, indent=2
        )

    def _parse(self, data: Any) -> KeyRing:
        bad = SecretBoxError(
            f"{self._source} is malformed",
            hint="restore it from a backup; without it the stored secrets cannot be decrypted",
        )
        if not isinstance(data, dict) or data.get("version") != _KEY_FILE_VERSION:
            raise bad
        keys: dict[str, bytes] = {}
        try:
            for entry in data["keys"]:
                keys[str(entry["kid"])] = base64.b64decode(entry["key"], validate=True)
            primary = str(data["primary"])
        except (KeyError, TypeError, ValueError):
            raise bad from None
        return KeyRing(keys, primary, source=self._source)


class SecretBox:
    """Seals and opens secrets with AES-256-GCM; the associated data binds each to its record."""

    def __init__(self, keyring: KeyRing, *, key_file: KeyFile | None = None) -> None:
        self.keyring = keyring
        # Where the keys came from, when a file: a long-running process (the web UI) re-reads it on
        # meeting a key id it does not know, which is what a `vault rotate-key` elsewhere leaves.
        self._key_file = key_file

    def __repr__(self) -> str:
        return f"SecretBox({self.keyring!r})"

    @classmethod
    def from_settings(cls, settings: Settings, *, sealed: Callable[[], set[str]] = set) -> SecretBox:
        """The master key from the settings if set, else the key file (created on first use, unless
        ``sealed`` says stored secrets need the key a missing file held: see ``KeyFile``)."""
        if settings.master_key is not None:
            return cls(KeyRing.from_master_key(settings.master_key))
        key_file = KeyFile(settings.key_file)
        return cls(key_file.load_or_create(sealed), key_file=key_file)

    @property
    def key_file(self) -> KeyFile | None:
        """The key file the keys came from (None: ``EXACTMATE_MASTER_KEY``)."""
        return self._key_file

    @property
    def primary_kid(self) -> str:
        return self.keyring.primary_kid

    def encrypt(self, plaintext: str, aad: str) -> bytes:
        """Seal ``plaintext`` under the primary key, bound to ``aad`` (see the module docstring)."""
        kid = self.keyring.primary_kid
        nonce = secrets.token_bytes(NONCE_BYTES)
        sealed = AESGCM(self.keyring.key(kid)).encrypt(nonce, plaintext.encode("utf-8"), aad.encode("utf-8"))
        return kid.encode("ascii") + BOUND + nonce + sealed

    def decrypt(self, blob: bytes, aad: str, *, legacy_aad: str | None = None) -> str:
        """Open a ciphertext made by :meth:`encrypt` with the same ``aad``; a ciphertext from before
        the connection values were bound opens only with its ``legacy_aad`` (the upgrade's path).

        Raises SecretBoxError saying which key id is missing, or that the data was tampered with
        (or belongs to another record); never the secret itself.
        """
        kid, body = split_blob(blob)
        if is_unbound(blob):
            if legacy_aad is None:
                raise SecretBoxError(
                    f"the secret stored for {aad} was sealed by an older exactmate and not upgraded yet",
                    hint="run any exactmate vault command (e.g. exactmate vault list) to upgrade it",
                )
            aad = legacy_aad
        if self._key_file is not None and kid not in self.keyring.kids:
            self.keyring = self._key_file.load()
        key = self.keyring.key(kid)
        nonce, sealed = body[:NONCE_BYTES], body[NONCE_BYTES:]
        try:
            plain = AESGCM(key).decrypt(nonce, sealed, aad.encode("utf-8"))
        except InvalidTag:
            raise SecretBoxError(
                f"a stored secret failed its integrity check under key {kid!r}: it was tampered with, "
                "copied from another record, or its credential's server URL, client ID or redirect URI "
                "was changed outside exactmate",
                hint="put the credential's values back, or store the secret again with exactmate vault",
            ) from None
        return plain.decode("utf-8")

    def needs_reencrypt(self, blob: bytes) -> bool:
        """True when ``blob`` was sealed under a key other than the primary (after a rotation), or
        before the connection values were bound."""
        return is_unbound(blob) or split_blob(blob)[0] != self.keyring.primary_kid

    def reencrypt(self, blob: bytes, aad: str, *, legacy_aad: str | None = None) -> bytes:
        """``blob`` sealed again under the primary key and bound to ``aad`` (unchanged if it already
        is); ``legacy_aad`` opens a ciphertext from before the connection values were bound."""
        if not self.needs_reencrypt(blob):
            return blob
        return self.encrypt(self.decrypt(blob, aad, legacy_aad=legacy_aad), aad)


def is_unbound(blob: bytes) -> bool:
    """Whether ``blob`` was sealed before the connection values were bound (``<kid>:``)."""
    head = bytes(blob)[:34]
    colon, semicolon = head.find(b":"), head.find(BOUND)
    return colon != -1 and (semicolon == -1 or colon < semicolon)


def split_blob(blob: bytes) -> tuple[str, bytes]:
    """The key id and the nonce+ciphertext of a sealed secret; SecretBoxError if it is not one."""
    data = bytes(blob)
    sep = b":" if is_unbound(data) else BOUND
    kid_bytes, found, body = data.partition(sep)
    kid = kid_bytes.decode("ascii", "replace")
    if not found or not _KID_RE.match(kid) or len(body) < NONCE_BYTES + 16:
        raise SecretBoxError(
            "a stored secret is not an exactmate ciphertext (damaged, truncated or never encrypted)",
            hint="store the secret again with exactmate vault",
        )
    return kid, body

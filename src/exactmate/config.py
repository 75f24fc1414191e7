"""Settings: explicit values first, ``EXACTMATE_*`` environment variables only as defaults.

| variable | setting | default |
| --- | --- | --- |
| ``EXACTMATE_HOME`` | ``home`` | the user data directory (platformdirs) |
| ``EXACTMATE_DB`` | ``db_url`` | ``sqlite:///<home>/exactmate.db`` |
| ``EXACTMATE_MASTER_KEY`` | ``master_key`` | none: a key file ``<home>/master.key`` is used |
| ``EXACTMATE_TIMEOUT`` | ``timeout`` | 30 seconds |
| ``EXACTMATE_MAX_RETRIES`` | ``max_retries`` | 2 |

There is no module-level settings object: whoever needs settings builds them (usually once, at the
edge: CLI, web app, library caller) and passes them down.
"""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import platformdirs

from exactmate import __version__
from exactmate.errors import ConfigError

T = TypeVar("T")
D = TypeVar("D")

MASTER_KEY_BYTES = 32
DEFAULT_TIMEOUT = 30.0
DEFAULT_MAX_RETRIES = 2

_GENERATE_KEY_HINT = (
    'generate one with: python -c "import base64, os; print(base64.b64encode(os.urandom(32)).decode())"'
)


def decode_master_key(value: str | bytes, *, source: str = "EXACTMATE_MASTER_KEY") -> bytes:
    """The 32-byte key from its base64 text (raw 32 bytes are accepted as they are).

    The error never repeats the value: it is a secret even when malformed.
    """
    if isinstance(value, bytes) and len(value) == MASTER_KEY_BYTES:
        return value
    text = value.decode("ascii", "replace") if isinstance(value, bytes) else value
    try:
        raw = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise ConfigError(f"{source} is not valid base64", hint=_GENERATE_KEY_HINT) from None
    if len(raw) != MASTER_KEY_BYTES:
        raise ConfigError(
            f"{source} must encode exactly {MASTER_KEY_BYTES} bytes, not {len(raw)}", hint=_GENERATE_KEY_HINT
        )
    return raw


def describe_db_url(url: str) -> str:
    """The URL with any password masked, safe for messages and logs."""
    from sqlalchemy.engine import make_url  # here: importing the settings costs no SQLAlchemy
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<unparseable database URL>"


def _check_db_url(url: str, source: str) -> str:
    if url.startswith("sqlite:///") and "?" not in url:
        return url  # a SQLite file, the default: SQLAlchemy reads any such URL (and is not imported)
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        make_url(url)
    except ArgumentError:
        raise ConfigError(
            f"{source} is not a database URL SQLAlchemy understands",
            hint="use e.g. sqlite:////absolute/path/exactmate.db or postgresql+psycopg://user@host/dbname",
        ) from None
    return url


def _positive_float(text: str, name: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ConfigError(
            f"{name} must be a number of seconds, got {text!r}", hint=f"e.g. {name}=30"
        ) from None
    if not value > 0:
        raise ConfigError(f"{name} must be more than 0 seconds, got {text!r}", hint=f"e.g. {name}=30")
    return value


def _non_negative_int(text: str, name: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, got {text!r}", hint=f"e.g. {name}=2") from None
    if value < 0:
        raise ConfigError(f"{name} cannot be negative, got {text!r}", hint=f"e.g. {name}=2")
    return value


def _from_env(env: Mapping[str, str], name: str, parse: Callable[[str, str], T], default: D) -> T | D:
    """``parse(value, name)`` of the variable, or ``default`` when it is unset or blank."""
    value = _env_value(env, name)
    return parse(value, name) if value is not None else default


def _env_value(env: Mapping[str, str], name: str) -> str | None:
    """An environment value, with an empty or blank one counting as unset."""
    value = env.get(name)
    return value if value is not None and value.strip() else None


@dataclass(frozen=True, repr=False)
class Settings:
    """Where exactmate keeps its data and how it talks to Exact Online.

    Build it with :meth:`from_env` unless every value is at hand. The repr leaves out the master
    key and any password in the database URL, so settings can be logged.
    """

    home: Path
    db_url: str
    key_file: Path
    master_key: bytes | None = field(default=None, repr=False)
    timeout: float = DEFAULT_TIMEOUT
    user_agent: str = f"exactmate/{__version__}"
    max_retries: int = DEFAULT_MAX_RETRIES

    def __post_init__(self) -> None:
        if self.master_key is not None and len(self.master_key) != MASTER_KEY_BYTES:
            raise ConfigError(f"master_key must be exactly {MASTER_KEY_BYTES} bytes", hint=_GENERATE_KEY_HINT)
        if not self.timeout > 0:
            raise ConfigError(f"timeout must be more than 0 seconds, got {self.timeout!r}")
        if self.max_retries < 0:
            raise ConfigError(f"max_retries cannot be negative, got {self.max_retries!r}")
        if not self.user_agent.strip():
            raise ConfigError("user_agent cannot be empty", hint=f"e.g. exactmate/{__version__}")
        _check_db_url(self.db_url, "db_url")

    def __repr__(self) -> str:
        return (
            f"Settings(home={str(self.home)!r}, db_url={describe_db_url(self.db_url)!r}, "
            f"key_file={str(self.key_file)!r}, master_key={'<set>' if self.master_key else None}, "
            f"timeout={self.timeout!r}, user_agent={self.user_agent!r}, max_retries={self.max_retries!r})"
        )

    @property
    def db_file(self) -> Path | None:
        """The store's SQLite file when ``db_url`` names one plainly (``sqlite:///path``, no query
        string); None for any other database. Telling whether it exists needs no SQLAlchemy."""
        if self.db_url.startswith("sqlite:///") and "?" not in self.db_url:
            return Path(self.db_url.removeprefix("sqlite:///"))
        return None

    @classmethod
    def from_env(
        cls,
        env: Mapping[str, str] | None = None,
        *,
        home: Path | str | None = None,
        db_url: str | None = None,
        master_key: str | bytes | None = None,
        key_file: Path | str | None = None,
        timeout: float | None = None,
        user_agent: str | None = None,
        max_retries: int | None = None,
    ) -> Settings:
        """Settings from explicit values, falling back to ``env`` (default: ``os.environ``).

        A malformed variable raises :class:`ConfigError` naming the variable and how to fix it.
        """
        env = os.environ if env is None else env
        root = Path(home or _env_value(env, "EXACTMATE_HOME") or platformdirs.user_data_dir("exactmate"))
        root = root.expanduser()
        key = (
            decode_master_key(master_key, source="master_key")
            if master_key is not None
            else _from_env(env, "EXACTMATE_MASTER_KEY", lambda v, _n: decode_master_key(v), None)
        )
        return cls(
            home=root,
            db_url=db_url
            or _from_env(env, "EXACTMATE_DB", _check_db_url, f"sqlite:///{root / 'exactmate.db'}"),
            key_file=Path(key_file).expanduser() if key_file else root / "master.key",
            master_key=key,
            timeout=(
                timeout
                if timeout is not None
                else _from_env(env, "EXACTMATE_TIMEOUT", _positive_float, DEFAULT_TIMEOUT)
            ),
            user_agent=user_agent or f"exactmate/{__version__}",
            max_retries=(
                max_retries
                if max_retries is not None
                else _from_env(env, "EXACTMATE_MAX_RETRIES", _non_negative_int, DEFAULT_MAX_RETRIES)
            ),
        )

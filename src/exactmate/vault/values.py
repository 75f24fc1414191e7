"""A credential's values checked once: new ones (``NewCredential``) or a change of a stored one
(``CredentialEdit``).

The command line checks them with ``Vault.new_values`` / ``Vault.plan_edit``, the web form field
by field (each problem under its own input); either way the result is one of these, and
``Connector`` and ``Vault.create`` / ``Vault.apply_edit`` trust it instead of checking again.
Whether a change touches the connection (and so needs a new sign-in) is decided here only.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from exactmate.vault.credential import Credential
from exactmate.vault.fields import CredentialFields

CONNECTION_FIELDS = ("auth_type", "server_url", "client_id", "redirect_uri")
"""The values the tokens belong to: changing one needs a new sign-in. The name is not one of them."""


def connection_changed(before: Credential | CredentialFields, after: CredentialFields) -> bool:
    """True when ``after`` connects differently from ``before`` (any of :data:`CONNECTION_FIELDS`)."""
    return any(getattr(before, key) != getattr(after, key) for key in CONNECTION_FIELDS)


@dataclass(frozen=True)
class NewCredential:
    """The checked values of a credential to create: its fields, its client secret and, when given,
    the app's webhook secret (what Exact signs its webhook notifications with)."""

    fields: CredentialFields
    secret: str = field(repr=False)
    webhook_secret: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class CredentialEdit:
    """A checked change of the stored credential ``current``: its fields after the change, a new
    client secret and a new webhook secret (None: keep the stored one). The webhook secret is not a
    connection value: changing it alone needs no sign-in."""

    current: Credential
    fields: CredentialFields
    secret: str | None = field(default=None, repr=False)
    webhook_secret: str | None = field(default=None, repr=False)

    @property
    def reconnects(self) -> bool:
        """The stored tokens no longer fit: a new secret, or a connection value changed."""
        return self.secret is not None or connection_changed(self.current, self.fields)

    @property
    def changes(self) -> dict[str, str]:
        """The plain columns that change (the secret aside)."""
        return {key: value for key, value in vars(self.fields).items() if getattr(self.current, key) != value}

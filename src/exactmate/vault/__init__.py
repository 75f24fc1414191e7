"""The vault: application credentials for Exact Online, their secrets and tokens encrypted at rest.

Credential *storage* only, a leaf over the store and the secret box: connecting (the OAuth sign-in)
and Test Connect need the client, so they live above it, in ``exactmate.connect``.

```python
with Vault.open() as vault:
    vault.list("acme")                       # search; nothing is decrypted
    credential = vault.get("Acme NL")        # by name, trimmed and case-insensitive
    secret = vault.client_secret(credential) # the only way a secret comes out
```

- ``fields``: what each field may hold (Connector Name, Authentication Type, Server URL, Client ID,
  Client Secret, redirect URI), checked and normalised
- ``credential``: the ``Credential`` record (no secret in it)
- ``values``: ``NewCredential`` and ``CredentialEdit``, a credential's values checked once, and
  whether a change touches the connection
- ``storage``: ``Vault`` (new_values + create, get, list, plan_edit + apply_edit, default, remove,
  tests, tokens, keys)
- ``tokens``: ``CredentialTokens``, a credential's token pair (the only writer of the tokens table)
- ``rotation``: re-encryption under a new key, one credential per transaction
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from exactmate.lazy import on_first_use

if TYPE_CHECKING:  # what type checkers see; at run time __getattr__ imports a name's module on first use
    from exactmate.vault.credential import STATUS_LABELS, Credential, LastTest
    from exactmate.vault.fields import (
        AUTH_TYPES,
        DEFAULT_AUTH_TYPE,
        DEFAULT_REDIRECT_URI,
        EXACT_HOSTS,
        CredentialFields,
        check_auth_type,
        check_client_id,
        check_fields,
        check_name,
        check_redirect_uri,
        check_secret,
        check_server_url,
        check_webhook_secret,
        is_exact_host,
        is_loopback,
    )
    from exactmate.vault.rotation import RotationReport
    from exactmate.vault.storage import Vault
    from exactmate.vault.tokens import CredentialTokens, TokenValues, refresh_lock_name
    from exactmate.vault.values import CONNECTION_FIELDS, CredentialEdit, NewCredential, connection_changed

# Where each name lives: importing ``exactmate.vault`` (or its light modules: ``fields``) does not pull
# in the store and SQLAlchemy until a name that needs them is used, which keeps the command line's
# start-up short.
_HOMES = {
    "AUTH_TYPES": "exactmate.vault.fields",
    "CONNECTION_FIELDS": "exactmate.vault.values",
    "Credential": "exactmate.vault.credential",
    "CredentialEdit": "exactmate.vault.values",
    "CredentialFields": "exactmate.vault.fields",
    "CredentialTokens": "exactmate.vault.tokens",
    "DEFAULT_AUTH_TYPE": "exactmate.vault.fields",
    "DEFAULT_REDIRECT_URI": "exactmate.vault.fields",
    "EXACT_HOSTS": "exactmate.vault.fields",
    "LastTest": "exactmate.vault.credential",
    "NewCredential": "exactmate.vault.values",
    "RotationReport": "exactmate.vault.rotation",
    "STATUS_LABELS": "exactmate.vault.credential",
    "TokenValues": "exactmate.vault.tokens",
    "Vault": "exactmate.vault.storage",
    "check_auth_type": "exactmate.vault.fields",
    "check_client_id": "exactmate.vault.fields",
    "check_fields": "exactmate.vault.fields",
    "check_name": "exactmate.vault.fields",
    "check_redirect_uri": "exactmate.vault.fields",
    "check_secret": "exactmate.vault.fields",
    "check_webhook_secret": "exactmate.vault.fields",
    "check_server_url": "exactmate.vault.fields",
    "connection_changed": "exactmate.vault.values",
    "is_exact_host": "exactmate.vault.fields",
    "is_loopback": "exactmate.vault.fields",
    "refresh_lock_name": "exactmate.vault.tokens",
}


__getattr__ = on_first_use(__name__, _HOMES)


__all__ = [
    "CONNECTION_FIELDS",
    "AUTH_TYPES",
    "DEFAULT_AUTH_TYPE",
    "DEFAULT_REDIRECT_URI",
    "EXACT_HOSTS",
    "STATUS_LABELS",
    "Credential",
    "CredentialTokens",
    "CredentialEdit",
    "CredentialFields",
    "LastTest",
    "NewCredential",
    "RotationReport",
    "TokenValues",
    "Vault",
    "check_auth_type",
    "check_client_id",
    "check_fields",
    "check_name",
    "check_redirect_uri",
    "check_secret",
    "check_server_url",
    "check_webhook_secret",
    "connection_changed",
    "is_exact_host",
    "is_loopback",
    "refresh_lock_name",
]

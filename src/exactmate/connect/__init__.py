"""Connecting vault credentials to Exact Online: the OAuth sign-in, Test Connect, Connect & Create.

Sits above the client (it uses it), beside the actions; credential *storage* is ``exactmate.vault``.

```python
result = run_test_connect("acme")          # signs in first when there are no tokens
print(result.summary if result.ok else f"{result.cause}: {result.summary} ({result.hint})")

saved = connect_and_create("acme", server_url="nl", client_id="…", client_secret=secret)
```

- ``consent``: how the user's consent arrives (browser + local listener, or a pasted address)
- ``listener``: the one-shot local callback server
- ``tokens``: ``MemoryTokens``, the token source of values not stored yet
- ``diagnosis``: naming the cause of a failure
- ``inspection``: the calls behind a successful test
- ``result``: ``ConnectCheck``, ``SaveResult``, ``Cause``
- ``connector``: ``Connector`` (test, connect, disconnect, create, edit)
- ``shortcuts``: the two functions above
"""

from __future__ import annotations

from exactmate.connect.connector import SKIPPED_NOTE, Connector
from exactmate.connect.consent import Consent, GivenConsent, TerminalConsent
from exactmate.connect.diagnosis import Diagnosis, diagnose, probe_authorization
from exactmate.connect.listener import CallbackListener, can_listen
from exactmate.connect.result import Cause, ConnectCheck, SaveResult, describe_age
from exactmate.connect.shortcuts import connect_and_create, run_test_connect

__all__ = [
    "SKIPPED_NOTE",
    "CallbackListener",
    "Cause",
    "Connector",
    "Consent",
    "Diagnosis",
    "GivenConsent",
    "SaveResult",
    "TerminalConsent",
    "ConnectCheck",
    "can_listen",
    "connect_and_create",
    "describe_age",
    "diagnose",
    "probe_authorization",
    "run_test_connect",
]

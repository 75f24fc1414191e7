"""The web UI: Management → Vault → Application Credentials, and the action forms.

```python
from exactmate.web import create_app, serve_ui
serve_ui(settings, host="127.0.0.1", port=8400, open_browser=True)   # blocks until Ctrl+C
```

- ``app``: ``create_app`` (FastAPI factory)
- ``security``: loopback-only admission, the access token, CSRF tokens, security headers
- ``vault_pages`` / ``credential_pages`` / ``oauth_callback``: the Vault page, the credential form
  with Test Connect and Connect & Create, and the OAuth callback
- ``action_pages`` / ``actionform`` / ``lookups`` / ``datamanager``: the four actions, the endpoint
  picker and the Data Manager
- ``server``: ``serve_ui`` and ``UiServer`` (uvicorn on a bound socket)
"""

from __future__ import annotations

from exactmate.web.app import create_app
from exactmate.web.server import UiServer, serve_ui

__all__ = ["UiServer", "create_app", "serve_ui"]

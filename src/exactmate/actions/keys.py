"""Record keys as users type them, for the actions: the names they have always imported from here.

The one key encoder is ``exactmate.odata.keys`` (the resource sends through it too, so a dry run
shows the URL the real request uses); this module only re-exports it.
"""

from __future__ import annotations

from exactmate.odata.keys import key_suffix, key_text, parse_key, record_key

__all__ = ["key_suffix", "key_text", "parse_key", "record_key"]

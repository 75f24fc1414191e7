"""Rebuild the catalogue shipped as package data from the shared research copy.

The shared file (``../shared/exact-online/catalogue.json`` beside the checkout) groups endpoints by
service. The package copy (``src/exactmate/data/catalogue.json``) is flat, keyed by endpoint path,
compact, and carries the source's SHA-256 so a test can tell when the two have drifted apart. A clean
clone has no ``../shared``, which is why the generated file is committed.

Usage: ``python scripts/build_catalogue.py [SOURCE] [--check]``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SOURCE = ROOT.parent / "shared" / "exact-online" / "catalogue.json"
TARGET = ROOT / "src" / "exactmate" / "data" / "catalogue.json"


def build(source: Path) -> str:
    raw = source.read_bytes()
    data: dict[str, Any] = json.loads(raw)
    endpoints: dict[str, Any] = {}
    for service, entries in sorted(data["services"].items()):
        for _name, entry in sorted(entries.items()):
            record = dict(entry)
            record["service"] = service
            path = record["path"]
            if path in endpoints:
                raise SystemExit(f"duplicate endpoint path in source: {path}")
            endpoints[path] = record
    out = {
        "meta": data["meta"],
        "source_sha256": hashlib.sha256(raw).hexdigest(),
        "endpoints": endpoints,
    }
    return json.dumps(out, sort_keys=True, separators=(",", ":"), ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", nargs="?", type=Path, default=DEFAULT_SOURCE)
    parser.add_argument("--check", action="store_true", help="exit 1 if the package copy is stale")
    args = parser.parse_args(argv)
    text = build(args.source)
    if args.check:
        current = TARGET.read_text(encoding="utf-8") if TARGET.exists() else ""
        if current != text:
            print(f"{TARGET} is stale: run python scripts/build_catalogue.py", file=sys.stderr)
            return 1
        print("catalogue package data is up to date")
        return 0
    TARGET.parent.mkdir(parents=True, exist_ok=True)
    TARGET.write_text(text, encoding="utf-8")
    print(f"wrote {TARGET} ({len(text):,} bytes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Refresh docs/screenshots/*.png from the browser tests (tests/web/test_browser.py).

Runs the Playwright journeys against Debian's Chromium (/usr/bin/chromium) with SCREENSHOT_DIR set to
a temporary folder, and copies the pictures into docs/screenshots only when every journey passed, so a
failed run never leaves a half-updated set behind. Usage: .venv/bin/python scripts/screenshots.py
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET = ROOT / "docs" / "screenshots"


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="exactmate-screenshots-") as folder:
        env = {**os.environ, "SCREENSHOT_DIR": folder}
        command = [sys.executable, "-m", "pytest", "-q", "-m", "browser", "tests/web/test_browser.py"]
        if subprocess.run(command, cwd=ROOT, env=env, check=False).returncode != 0:
            print("browser tests failed: docs/screenshots left as it was", file=sys.stderr)
            return 1
        pictures = sorted(Path(folder).glob("*.png"))
        if not pictures:
            print("the browser tests saved no screenshots", file=sys.stderr)
            return 1
        TARGET.mkdir(parents=True, exist_ok=True)
        for old in TARGET.glob("*.png"):
            old.unlink()
        for picture in pictures:
            shutil.copy2(picture, TARGET / picture.name)
    print(f"{len(pictures)} screenshots written to {TARGET.relative_to(ROOT)}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())

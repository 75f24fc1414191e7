"""Entry files uploaded on the Create form, kept between their preview and their booking, and the
progress of each booking.

An upload is written to a private temporary folder of this process (files readable by the owner
only) and removed when it is booked, when newer uploads push it out (``MAX_UPLOADS`` are kept), or
when the UI stops. Each belongs to the browser that sent it: another browser cannot see or book it.

A booking runs on a worker thread (a ``ThreadPoolExecutor``) so the page can poll its progress;
one upload is booked by one run at a time, and the create journal makes any later run of the same
rows book nothing twice.
"""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from exactmate.actions.journal import CreateOutcome
from exactmate.actions.sources import EntrySource, FileFormat, parse_entries
from exactmate.actions.timecreate import CreateResult

MAX_UPLOADS = 10
BOOKING_WORKERS = 2

Progress = Callable[[CreateOutcome], None]


@dataclass
class Booking:
    """One run booking an upload's entries: how far it got, and its result once done."""

    total: int
    done: int = 0
    future: Future[CreateResult] | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def advance(self, _outcome: CreateOutcome) -> None:
        with self._lock:
            self.done += 1

    @property
    def running(self) -> bool:
        return self.future is not None and not self.future.done()


@dataclass
class Upload:
    """A checked entry file: where its bytes are, how to read them, and where it is to be booked."""

    id: str
    browser: str
    name: str
    file_format: FileFormat
    delimiter: str | None
    credential: str
    division: str
    rows: int
    path: Path = field(repr=False)
    booking: Booking | None = None

    def entries(self) -> EntrySource:
        """The file's rows, read again from the stored bytes (as the preview read them)."""
        return parse_entries(
            self.path.read_bytes(), self.file_format, name=self.name, delimiter=self.delimiter
        )


class Uploads:
    """The uploads of this UI process, by id, and the workers that book them."""

    def __init__(self, keep: int = MAX_UPLOADS) -> None:
        self._folder: Path | None = None  # made at the first upload
        self._uploads: OrderedDict[str, Upload] = OrderedDict()
        self._keep = keep
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=BOOKING_WORKERS, thread_name_prefix="exactmate-booking")

    def add(self, browser: str, data: bytes, **described: object) -> Upload:
        """Keep ``data`` (a checked file) for ``browser``; ``described``: the other ``Upload`` fields."""
        upload_id = secrets.token_urlsafe(12)
        path = self._private_folder() / upload_id
        with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as handle:
            handle.write(data)
        upload = Upload(id=upload_id, browser=browser, path=path, **described)  # type: ignore[arg-type]
        with self._lock:
            self._uploads[upload_id] = upload
            while len(self._uploads) > self._keep:
                oldest = next(iter(self._uploads.values()))
                if oldest.booking is not None and oldest.booking.running:
                    break  # never drop a file while it is being booked
                self._uploads.popitem(last=False)
                oldest.path.unlink(missing_ok=True)
        return upload

    def _private_folder(self) -> Path:
        """This process's folder of uploads (owner only), removed when the UI stops or is collected."""
        with self._lock:
            if self._folder is None:
                self._folder = Path(tempfile.mkdtemp(prefix="exactmate-uploads-"))
                weakref.finalize(self, shutil.rmtree, self._folder, ignore_errors=True)
            return self._folder

    def get(self, upload_id: str, browser: str) -> Upload | None:
        with self._lock:
            found = self._uploads.get(upload_id)
        return found if found is not None and found.browser == browser else None

    def book(self, upload: Upload, work: Callable[[Progress], CreateResult]) -> Booking | None:
        """Start ``work`` (given the progress callback) for ``upload``; None while a run is booking it."""
        with self._lock:
            if upload.booking is not None and upload.booking.running:
                return None
            booking = Booking(total=upload.rows)
            upload.booking = booking
            booking.future = self._pool.submit(work, booking.advance)
        return booking

    def close(self) -> None:
        """Stop taking bookings, wait for the running ones, and remove every stored file."""
        self._pool.shutdown(wait=True)
        if self._folder is not None:
            shutil.rmtree(self._folder, ignore_errors=True)

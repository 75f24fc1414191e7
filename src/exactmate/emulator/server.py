"""Running the emulator under uvicorn: in the foreground (``exactmate emulator serve``) or on a
background thread (``BackgroundServer``, for tests and benchmarks that need a real socket)."""

from __future__ import annotations

import logging
import threading
import time
from types import TracebackType

import uvicorn

from exactmate.emulator.app import ConnectionDropped, create_app
from exactmate.emulator.clock import TimeSource
from exactmate.emulator.config import EmulatorConfig
from exactmate.emulator.core import Emulator


class _QuietDrops(logging.Filter):
    """Turns uvicorn's traceback for an injected connection drop into one plain line: it is a
    fault asked for, not a failure."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, ConnectionDropped):
            record.msg, record.args, record.exc_info, record.exc_text = str(exc), (), None, None
            record.levelno, record.levelname = logging.INFO, "INFO"
        return True


def _install_filter() -> None:
    logger = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, _QuietDrops) for f in logger.filters):
        logger.addFilter(_QuietDrops())


def _uvicorn_config(
    config: EmulatorConfig, emulator: Emulator | None, clock: TimeSource | None, log_level: str
) -> uvicorn.Config:
    app = create_app(config, clock, emulator=emulator)
    return uvicorn.Config(
        app,
        host=config.host,
        port=config.port,
        log_level=log_level,
        workers=1,
        lifespan="on",
        access_log=False,
    )


def run(config: EmulatorConfig, *, emulator: Emulator | None = None, log_level: str = "info") -> None:
    """Serve until interrupted (Ctrl+C)."""
    _install_filter()
    uvicorn.Server(_uvicorn_config(config, emulator, None, log_level)).run()


class BackgroundServer:
    """uvicorn on a thread. ``config.port`` 0 picks a free port; ``base_url`` tells which one.

    ``with BackgroundServer(config) as server: httpx.get(server.base_url + "/...")``"""

    def __init__(
        self,
        config: EmulatorConfig,
        *,
        emulator: Emulator | None = None,
        clock: TimeSource | None = None,
        log_level: str = "warning",
    ) -> None:
        _install_filter()
        self._server = uvicorn.Server(_uvicorn_config(config, emulator, clock, log_level))
        self._thread = threading.Thread(target=self._server.run, name="emulator-server", daemon=True)
        self._host = config.host
        self.port = config.port

    @property
    def base_url(self) -> str:
        return f"http://{self._host}:{self.port}"

    def start(self, timeout: float = 10.0) -> BackgroundServer:
        """Start serving and wait until the socket accepts connections."""
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the emulator did not start on {self._host}:{self.port}")
            time.sleep(0.01)
        sockets = [s for server in self._server.servers for s in server.sockets]
        if sockets:
            self.port = int(sockets[0].getsockname()[1])
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Ask uvicorn to finish and wait for the thread."""
        self._server.should_exit = True
        self._thread.join(timeout)

    def __enter__(self) -> BackgroundServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

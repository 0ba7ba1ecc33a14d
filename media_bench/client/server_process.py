"""The server under test as a child process: ``python -m media_bench.server`` on loopback.

Benchmarks and swarms drive it from their own process, so the load generator's CPU is never
counted as the server's.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

from media_bench.client.process_meter import reap_measured


def free_port() -> int:
    """A loopback port nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class ServerProcess:
    """A server with the given options on a free loopback port; ``url`` and ``pid`` once
    started. ``with ServerProcess([...]) as server:`` starts and stops it.

    Its output goes to ``log`` when given; else standard output is dropped and errors go to
    this process's standard error. Unless the options name a ``--data-dir`` or a
    ``--database``, its database lives in a temporary folder, removed when it stops.
    """

    def __init__(
        self,
        options: Sequence[str] = (),
        log: Path | None = None,
        start_timeout: float = 30.0,
        stop_timeout: float = 10.0,
    ) -> None:
        self.options = list(options)
        self.log = log
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout
        self.port = 0
        self._process: subprocess.Popen[bytes] | None = None
        self._scratch: tempfile.TemporaryDirectory[str] | None = None

    @property
    def url(self) -> str:
        if self._process is None:
            raise RuntimeError("the server is not running")
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        if self._process is None:
            raise RuntimeError("the server is not running")
        return self._process.pid

    def start(self) -> None:
        """Start the server and return once it answers ``/healthz``."""
        self.port = free_port()
        command = [sys.executable, "-m", "media_bench.server", "--host", "127.0.0.1",
                   "--port", str(self.port), *self.options]  # fmt: skip
        if not {"--data-dir", "--database"} & {option.split("=")[0] for option in self.options}:
            if self._scratch is None:
                self._scratch = tempfile.TemporaryDirectory(prefix="spaces-lab-data-")
            command += ["--data-dir", self._scratch.name]
        if self.log is None:
            self._process = subprocess.Popen(command, stdout=subprocess.DEVNULL)
        else:
            with self.log.open("wb") as log:
                self._process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        self._wait_until_it_answers()

    def _wait_until_it_answers(self) -> None:
        assert self._process is not None
        where = f"; see {self.log}" if self.log is not None else ""
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                code = self._process.returncode
                self._process = None
                raise RuntimeError(f"the server exited with {code}{where}")
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=1):
                    return
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"the server did not answer within {self.start_timeout:.0f} s{where}")

    def stop(self) -> float:
        """Terminate the server (kill it after ``stop_timeout`` s); the CPU seconds it used
        over its whole life, or NaN when it was not running."""
        process, self._process = self._process, None
        if process is None:
            self._remove_scratch()
            return float("nan")
        try:
            return reap_measured(process, timeout=self.stop_timeout, terminate=True)
        finally:
            self._remove_scratch()

    def kill(self) -> None:
        """SIGKILL the server (a crash: nothing of its shutdown runs) and reap it; a scratch
        data folder is kept, so ``start`` serves the same data again."""
        process, self._process = self._process, None
        if process is not None:
            process.kill()
            process.wait()

    def _remove_scratch(self) -> None:
        scratch, self._scratch = self._scratch, None
        if scratch is not None:
            scratch.cleanup()

    def __enter__(self) -> ServerProcess:
        self.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

"""Janus (Debian's package ``janus``) as a child process in a network namespace of its own.

Its configuration is generated in a temporary folder: one event loop (``event_loops = 1``:
every handle's media on one thread, so its CPU reads per core like our one-process server),
only the AudioBridge and Streaming plugins and the HTTP transport (linked into private
plugin and transport folders, so nothing else loads), no admin API, no static rooms or
mountpoints. Janus skips loopback interfaces when it gathers ICE candidates, so it runs in a
``NetNamespace`` and is reached at ``INSIDE_ADDRESS``.
"""

from __future__ import annotations

import glob
import shutil
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path
from types import TracebackType

from media_bench.client.netns import INSIDE_ADDRESS, NetNamespace
from media_bench.client.process_meter import reap_measured
from spaces_core.apt import apt_install
from spaces_core.errors import SpacesLabError

PACKAGE = "janus"
HTTP_PORT = 8088
BASE_PATH = "/janus"
PLUGINS = ("libjanus_audiobridge.so", "libjanus_streaming.so")
TRANSPORTS = ("libjanus_http.so",)
MODULE_ROOTS = ("/usr/lib/*/janus", "/usr/lib/janus", "/usr/local/lib/janus")
RTP_PORTS = "20000-40000"
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))
"""Never through a proxy the environment names: Janus is on the namespace's address."""


class JanusUnavailable(SpacesLabError):
    """Janus is not installed and could not be installed."""


def janus_binary() -> str:
    """The ``janus`` program, installed with apt first when it is missing (as root)."""
    found = shutil.which("janus")
    if found:
        return found
    reason = apt_install(PACKAGE)
    found = shutil.which("janus")
    if found:
        return found
    raise JanusUnavailable(f"Debian's {PACKAGE} is not installed and could not be: {reason}")


def module_folder(kind: str) -> Path:
    """The package's folder of plugins or transports."""
    for root in MODULE_ROOTS:
        for found in sorted(glob.glob(f"{root}/{kind}")):
            return Path(found)
    raise JanusUnavailable(f"no Janus {kind} folder under {', '.join(MODULE_ROOTS)}")


def write_config(folder: Path, event_loops: int = 1) -> Path:
    """A minimal configuration in ``folder``; returns the path of ``janus.jcfg``."""
    for kind, names in (("plugins", PLUGINS), ("transports", TRANSPORTS)):
        (folder / kind).mkdir()
        source = module_folder(kind)
        for name in names:
            if not (source / name).is_file():
                raise JanusUnavailable(f"{source / name} is missing")
            (folder / kind / name).symlink_to(source / name)
    (folder / "janus.jcfg").write_text(
        "general: {\n"
        f'  configs_folder = "{folder}"\n'
        f'  plugins_folder = "{folder / "plugins"}"\n'
        f'  transports_folder = "{folder / "transports"}"\n'
        f'  events_folder = "{folder / "events"}"\n'
        f'  loggers_folder = "{folder / "loggers"}"\n'
        "  debug_level = 3\n"
        f"  event_loops = {event_loops}\n"
        "  session_timeout = 120\n"
        "}\n"
        f'media: {{\n  rtp_port_range = "{RTP_PORTS}"\n}}\n'
        f'nat: {{\n  ice_enforce_list = "{INSIDE_ADDRESS}"\n}}\n'
        "plugins: {\n}\ntransports: {\n}\nevents: {\n  broadcast = false\n}\n"
        "loggers: {\n}\n"
    )
    (folder / "janus.transport.http.jcfg").write_text(
        "general: {\n"
        f'  base_path = "{BASE_PATH}"\n  http = true\n  port = {HTTP_PORT}\n'
        f'  ip = "{INSIDE_ADDRESS}"\n  https = false\n'
        "}\n"
        "admin: {\n  admin_http = false\n  admin_https = false\n}\n"
    )
    (folder / "janus.plugin.audiobridge.jcfg").write_text("general: {\n  events = false\n}\n")
    (folder / "janus.plugin.streaming.jcfg").write_text("general: {\n  events = false\n}\n")
    return folder / "janus.jcfg"


class JanusProcess:
    """Janus in a fresh network namespace; ``url`` (its HTTP API) and ``pid`` once started.
    ``with JanusProcess() as janus:`` starts it and always stops it and removes the namespace.
    Its log goes to ``log`` when given."""

    def __init__(
        self, log: Path | None = None, start_timeout: float = 30.0, event_loops: int = 1
    ) -> None:
        self.log = log
        self.start_timeout = start_timeout
        self.event_loops = event_loops
        self.namespace = NetNamespace()
        self._process: subprocess.Popen[bytes] | None = None
        self._scratch: tempfile.TemporaryDirectory[str] | None = None

    @property
    def url(self) -> str:
        return f"http://{INSIDE_ADDRESS}:{HTTP_PORT}{BASE_PATH}"

    @property
    def pid(self) -> int:
        if self._process is None:
            raise RuntimeError("Janus is not running")
        return self._process.pid

    def start(self) -> None:
        """Install (when missing) and start Janus; returns once its API answers."""
        binary = janus_binary()
        self._scratch = tempfile.TemporaryDirectory(prefix="spaces-lab-janus-")
        folder = Path(self._scratch.name)
        try:
            config = write_config(folder, self.event_loops)
            self.namespace.create()
            options = ["--config", str(config), "--configs-folder", str(folder)]
            command = self.namespace.command([binary, *options, "--disable-colors"])
            output = subprocess.DEVNULL if self.log is None else self.log.open("wb")
            try:
                self._process = subprocess.Popen(
                    command, stdout=output, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
                )
            finally:
                if self.log is not None:
                    output.close()  # type: ignore[union-attr]
            self._wait_until_it_answers()
        except BaseException:
            self.stop()
            raise

    def _wait_until_it_answers(self) -> None:
        assert self._process is not None
        where = f"; see {self.log}" if self.log is not None else ""
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"Janus exited with {self._process.returncode}{where}")
            try:
                with _DIRECT.open(self.url + "/info", timeout=1):
                    return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"Janus did not answer within {self.start_timeout:.0f} s{where}")

    def stop(self) -> float:
        """Stop Janus, remove the namespace and the configuration; the CPU seconds Janus
        used over its life (NaN when it was not running)."""
        process, self._process = self._process, None
        used = float("nan")
        try:
            if process is not None:
                used = reap_measured(process, timeout=10.0, terminate=True)
        finally:
            self.namespace.remove()
            scratch, self._scratch = self._scratch, None
            if scratch is not None:
                scratch.cleanup()
        return used

    def __enter__(self) -> JanusProcess:
        self.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

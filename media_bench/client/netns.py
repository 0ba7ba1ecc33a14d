"""A network namespace joined to this one by a veth pair: an address of its own for a server
under test that will not gather ICE candidates on loopback (Janus).

Only the two private addresses below are ever used. The namespace is created on entry and
removed on exit, also when the block fails; deleting it deletes the veth pair with it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Sequence
from types import TracebackType

from spaces_core.errors import SpacesLabError

HOST_ADDRESS = "10.213.0.1"
"""This side of the veth pair: the address the load generator's peers gather on."""
INSIDE_ADDRESS = "10.213.0.2"
"""The namespace's side: the address the server listens and gathers on."""
PREFIX_LENGTH = 30
NAME_PREFIX = "spaces-lab-"
IP_TIMEOUT = 10.0


class NamespaceUnavailable(SpacesLabError):
    """The namespace cannot be made here (not root, no ``ip netns``, the address is taken)."""


def _ip(*arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["ip", *arguments], capture_output=True, text=True, timeout=IP_TIMEOUT, check=False
    )


def _check(done: subprocess.CompletedProcess[str]) -> None:
    if done.returncode != 0:
        command = " ".join(str(part) for part in done.args)
        raise NamespaceUnavailable(f"`{command}` failed: {done.stderr.strip()}")


def namespaces() -> list[str]:
    """Names of the network namespaces that exist now."""
    done = _ip("netns", "list")
    return [line.split()[0] for line in done.stdout.splitlines() if line.strip()]


def unavailable() -> str:
    """Why a namespace cannot be made here, or '' when it can."""
    if os.geteuid() != 0:
        return "a network namespace needs root"
    if shutil.which("ip") is None:
        return "no `ip` command (Debian package iproute2)"
    if _ip("netns", "list").returncode != 0:
        return "`ip netns` is not available on this machine"
    return ""


def _remove_stale() -> None:
    """Remove namespaces this module made for processes that are gone (a killed run): they
    hold the fixed addresses."""
    for name in namespaces():
        owner = name.removeprefix(NAME_PREFIX)
        if name.startswith(NAME_PREFIX) and owner.isdigit() and not _alive(int(owner)):
            _ip("netns", "delete", name)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class NetNamespace:
    """``with NetNamespace() as ns:`` a namespace reachable at ``INSIDE_ADDRESS`` from
    ``HOST_ADDRESS``, with its loopback up; ``ns.command([...])`` runs a program inside."""

    def __init__(self) -> None:
        self.name = f"{NAME_PREFIX}{os.getpid()}"
        self._veth = f"sl{os.getpid() % 10**8}"
        self.created = False

    def command(self, argv: Sequence[str]) -> list[str]:
        """``argv`` run inside the namespace (``ip netns exec`` execs it: same pid)."""
        return ["ip", "netns", "exec", self.name, *argv]

    def create(self) -> None:
        reason = unavailable()
        if reason:
            raise NamespaceUnavailable(reason)
        _remove_stale()
        taken = _ip("-o", "addr", "show", "to", f"{HOST_ADDRESS}/{PREFIX_LENGTH}")
        if taken.stdout.strip():
            device = taken.stdout.split()[1]
            raise NamespaceUnavailable(
                f"{HOST_ADDRESS} is already in use (device {device}): another run's namespace?"
            )
        _check(_ip("netns", "add", self.name))
        self.created = True
        try:
            inside = f"{self._veth}n"
            _check(_ip("link", "add", f"{self._veth}h", "type", "veth", "peer", "name", inside))
            _check(_ip("link", "set", inside, "netns", self.name))
            _check(_ip("addr", "add", f"{HOST_ADDRESS}/{PREFIX_LENGTH}", "dev", f"{self._veth}h"))
            _check(_ip("link", "set", f"{self._veth}h", "up"))
            for step in (
                ("addr", "add", f"{INSIDE_ADDRESS}/{PREFIX_LENGTH}", "dev", inside),
                ("link", "set", inside, "up"),
                ("link", "set", "lo", "up"),
            ):
                _check(_ip("-n", self.name, *step))
        except BaseException:
            self.remove()
            raise

    def remove(self) -> None:
        """Delete the namespace (and with it the veth pair); safe to call twice."""
        if not self.created:
            return
        _ip("netns", "delete", self.name)
        _ip("link", "delete", f"{self._veth}h")  # gone with its peer already, normally
        self.created = False

    def __enter__(self) -> NetNamespace:
        self.create()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.remove()

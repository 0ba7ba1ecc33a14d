"""CPU time and memory of processes and of the machine, read with psutil.

The one meter of the benchmarks and swarms: the server's CPU per window, the load generator's
own, everything else on the machine, and the whole life of a child process tree.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from typing import Any

import psutil


def cpu_seconds(pid: int, include_children: bool = False) -> float:
    """User + system CPU seconds the process has used; with ``include_children`` also its
    descendants', both those still running and those already reaped (waited for) in the tree.

    Raises ProcessLookupError when the process is gone (reaped).
    """
    try:
        process = psutil.Process(pid)
        times = process.cpu_times()
        if not include_children:
            return times.user + times.system
        total = times.user + times.system + times.children_user + times.children_system
        descendants = process.children(recursive=True)
    except psutil.Error as error:
        raise ProcessLookupError(f"process {pid}: {error}") from error
    for descendant in descendants:
        try:
            times = descendant.cpu_times()
        except psutil.Error:
            continue  # ended since the listing: its time is now in its parent's children_*
        total += times.user + times.system + times.children_user + times.children_system
    return total


def own_cpu_seconds() -> float:
    """User + system CPU seconds of this process (all its threads)."""
    return cpu_seconds(os.getpid())


def rss_bytes(pid: int, include_children: bool = False) -> int:
    """Resident set size of the process, in bytes; with ``include_children`` the sum over it
    and its running descendants (a server's media workers, Locust's worker processes)."""
    try:
        process = psutil.Process(pid)
        total = int(process.memory_info().rss)
        descendants = process.children(recursive=True) if include_children else []
    except psutil.Error as error:
        raise ProcessLookupError(f"process {pid}: {error}") from error
    for descendant in descendants:
        try:
            total += int(descendant.memory_info().rss)
        except psutil.Error:
            continue  # ended since the listing
    return total


def machine_cpu_seconds() -> float:
    """CPU seconds used by everything on the machine, all cores (idle and iowait excluded)."""
    times = psutil.cpu_times()
    return times.user + times.nice + times.system + times.irq + times.softirq + times.steal


def reap_measured(
    process: subprocess.Popen[Any], timeout: float | None = None, terminate: bool = False
) -> float:
    """Wait for a child to exit (after SIGTERM when ``terminate``; killed after ``timeout``
    seconds), then reap it; returns the CPU seconds it and the descendants it reaped used over
    its whole life, or NaN when it had been reaped already.

    The figures are read while the child is a zombie: once it is reaped the kernel forgets them.
    Signals go by pid (not ``Popen.terminate``, which would reap a child that just exited): an
    unreaped pid cannot be reused.
    """
    if process.returncode is not None:
        return float("nan")
    if terminate and not _has_exited(process.pid):
        os.kill(process.pid, signal.SIGTERM)
    deadline = None if timeout is None else time.monotonic() + timeout
    while not _has_exited(process.pid):
        if deadline is not None and time.monotonic() >= deadline:
            os.kill(process.pid, signal.SIGKILL)
            os.waitid(os.P_PID, process.pid, os.WEXITED | os.WNOWAIT)
            break
        time.sleep(0.05)
    used = cpu_seconds(process.pid, include_children=True)
    process.wait()
    return used


def _has_exited(pid: int) -> bool:
    """Whether the child has exited, leaving it unreaped."""
    return os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT | os.WNOHANG) is not None

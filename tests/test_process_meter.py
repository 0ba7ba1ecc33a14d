"""The process meter shows load: a child that burns CPU rises by what it burned, an idle one does
not, a parent counts its children's CPU only when asked, and a child's whole life is read
before it is reaped."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time

import pytest

from media_bench.client.process_meter import (
    cpu_seconds,
    machine_cpu_seconds,
    own_cpu_seconds,
    reap_measured,
    rss_bytes,
)

BURN = 0.5
TICK = 0.02  # /proc counts CPU time in clock ticks (10 ms)

# Waits for a line on stdin, burns BURN s of CPU, says so, then idles until stdin closes.
BURNER = textwrap.dedent(f"""
    import sys, time
    sys.stdin.readline()
    began = time.process_time()
    while time.process_time() - began < {BURN}: pass
    print("burnt", flush=True)
    sys.stdin.read()
""")
# Waits for a line on stdin, runs a BURNER-like grandchild to its end, says so, then idles.
PARENT = textwrap.dedent(f"""
    import subprocess, sys, time
    sys.stdin.readline()
    subprocess.run([sys.executable, "-c",
                    "import time\\nwhile time.process_time() < {BURN}: pass"], check=True)
    print("child done", flush=True)
    sys.stdin.read()
""")


def started(script: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-c", script], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)


def go_and_wait(process: subprocess.Popen[str]) -> None:
    """Tell the child to start working and wait until it says it is done."""
    assert process.stdin is not None and process.stdout is not None
    process.stdin.write("go\n")
    process.stdin.flush()
    assert process.stdout.readline().strip() in ("burnt", "child done")


def finish(process: subprocess.Popen[str]) -> None:
    assert process.stdin is not None
    process.stdin.close()
    process.wait(timeout=10)


def test_a_busy_child_rises_by_the_cpu_it_burns_and_an_idle_one_does_not() -> None:
    busy, idle = started(BURNER), started(BURNER)
    try:
        time.sleep(0.3)  # both past their interpreter start-up
        busy_before, idle_before = cpu_seconds(busy.pid), cpu_seconds(idle.pid)
        go_and_wait(busy)
        busy_rise = cpu_seconds(busy.pid) - busy_before
        idle_rise = cpu_seconds(idle.pid) - idle_before
    finally:
        finish(busy)
        finish(idle)
    assert BURN - TICK <= busy_rise <= BURN + 0.1
    assert idle_rise < 0.05


def test_children_count_only_when_asked_also_once_reaped() -> None:
    parent = started(PARENT)
    try:
        time.sleep(0.3)
        own_before = cpu_seconds(parent.pid)
        tree_before = cpu_seconds(parent.pid, include_children=True)
        go_and_wait(parent)  # the grandchild has burnt BURN s and been reaped by now
        own_rise = cpu_seconds(parent.pid) - own_before
        tree_rise = cpu_seconds(parent.pid, include_children=True) - tree_before
    finally:
        finish(parent)
    assert tree_rise >= BURN - TICK
    assert own_rise < 0.2  # its own share: waiting, and starting the grandchild


def test_a_finished_child_is_measured_over_its_whole_life_then_reaped() -> None:
    child = subprocess.Popen([sys.executable, "-c",
                              f"import time\nwhile time.process_time() < {BURN}: pass"])
    used = reap_measured(child, timeout=30)
    assert child.returncode == 0
    assert BURN - TICK <= used < BURN + 1.0  # the interpreter's start-up is its own
    with pytest.raises(ProcessLookupError):
        cpu_seconds(child.pid)


def test_a_child_past_its_timeout_is_killed_and_measured() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    began = time.monotonic()
    used = reap_measured(child, timeout=0.5)
    assert time.monotonic() - began < 10
    assert child.returncode == -9
    assert 0 < used < 1.0


def test_terminate_asks_first() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    time.sleep(0.3)
    reap_measured(child, timeout=10, terminate=True)
    assert child.returncode == -15


def test_own_and_machine_cpu_rise_with_work_done_here() -> None:
    own0, machine0 = own_cpu_seconds(), machine_cpu_seconds()
    began = time.process_time()
    while time.process_time() - began < 0.3:
        pass
    own_rise, machine_rise = own_cpu_seconds() - own0, machine_cpu_seconds() - machine0
    assert own_rise >= 0.3 - TICK
    assert machine_rise >= own_rise - TICK  # the machine's CPU includes this process's


def test_memory_is_the_resident_set_in_bytes() -> None:
    assert 10e6 < rss_bytes(os.getpid()) < 10e9

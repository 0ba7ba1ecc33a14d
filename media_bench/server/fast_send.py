"""The optional native send of one listener packet (``media_bench/native/fastsend.c``).

``pip install`` compiles it where a C compiler and Python's headers are present; elsewhere the
build is skipped and ``DirectSender`` keeps its pure-Python path, which stays tested
(``SPACES_LAB_FAST_SEND=0`` turns the native one off).
"""

from __future__ import annotations

import os
import socket
import struct
from collections.abc import Callable
from typing import Any

FAST_SEND_VARIABLE = "SPACES_LAB_FAST_SEND"

NOT_PROTECTED, SENT, PROTECTED_NOT_SENT = 0, 1, 2
"""What ``send_rtp`` answers (``fastsend.c``): after the last two the sequence number is spent."""

NativeSend = Callable[[int, bytes, int, int, int, int, int, int, int, int, bytes], int]


def native_send() -> NativeSend | None:
    """The compiled ``send_rtp``, or None (not built here, or turned off)."""
    if os.environ.get(FAST_SEND_VARIABLE, "") == "0":
        return None
    try:
        from media_bench.server import _fastsend
    except ImportError:
        return None
    send: NativeSend = _fastsend.send_rtp
    return send


def sockaddr(address: Any) -> bytes:
    """The C ``struct sockaddr_in`` / ``sockaddr_in6`` of an (host, port[, ...]) address."""
    host, port = address[0], int(address[1])
    if ":" in host:
        scope = int(address[3]) if len(address) > 3 else 0
        return struct.pack(
            "=H", socket.AF_INET6
        ) + struct.pack("!HI", port, 0) + socket.inet_pton(socket.AF_INET6, host) + struct.pack(
            "=I", scope
        )
    return (
        struct.pack("=H", socket.AF_INET)
        + struct.pack("!H", port)
        + socket.inet_pton(socket.AF_INET, host)
        + bytes(8)
    )

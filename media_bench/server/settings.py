"""Server settings, shared by the CLI, the server and the benchmarks."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from media_bench.server.event_loop import EventLoop
from media_bench.server.placement import PlacementLimits
from sim.policy import PolicyParams

FanOut = Literal["shared", "direct", "naive"]
FANOUT_SUMMARIES: dict[FanOut, str] = {
    "direct": "one encode per tick, the same packets written straight to each listener's SRTP "
    "session in the mixer's tick",
    "shared": "one encode per tick, the same packets fanned out through aiortc senders",
    "naive": "aiortc encodes per listener",
}


@dataclass(frozen=True)
class Settings:
    host_threshold: int = int(PolicyParams().threshold)
    """Minimum followers to create a room: the simulation's threshold policy."""
    bitrate: int = 32_000
    """Opus bitrate of every mix, bits/s."""
    complexity: int = 5
    """Opus complexity 0..10 of the listener mix (encoded once, heard by every listener)."""
    speaker_complexity: int = 0
    """Opus complexity of the N-1 mixes (up to 13 encodes per tick, each heard by one)."""
    token_ttl: float = 3600.0
    secret: bytes | None = None
    """Token signing key; None: the one kept in the database (made on first start), so
    tokens outlive a restart. ``--secret`` or SPACES_LAB_SECRET set it (see the CLI)."""
    data_dir: Path | None = None
    """Folder of the SQLite database; None (and no ``database``): an in-memory database,
    which in-process servers (tests, benchmarks) use. The CLI's default is
    ``store.engine.default_data_dir()``."""
    database: str | None = None
    """A database URL (``postgresql://...``) instead of the data folder's SQLite file."""
    max_body: int = 64 * 1024
    event_stall_timeout: float = 10.0
    """Seconds one server-sent event may take to be written before its subscriber counts as
    no longer reading and its stream is closed (its queue meanwhile loses only its oldest)."""
    rate_per_second: float = 20.0
    """Requests per second one user may make, on average (a token bucket per user id)."""
    rate_burst: int = 40
    """Requests one user may make at once; past it and the average, 429 with Retry-After."""
    fanout: FanOut = "direct"
    """The fan-out design (``fanout_designs.fanout_design``), one of ``FANOUT_SUMMARIES``."""
    event_loop: EventLoop = "asyncio"
    """The event loop of the API and media processes (``event_loop``). Measured on a quiet
    machine on 12-03 (``bench mixer --event-loop``, direct, 150-450 listeners): 977 listeners
    per core with asyncio's, 922 with uvloop (the same within the noise), so the standard
    library's stays the default and uvloop is there to repeat the comparison."""
    relay_timeout: float = 5.0
    """Seconds an edge waits without a datagram from a room's origin before it drops the
    room's peers there (reason ``relay_lost``); the origin sends one every 20 ms."""
    consent_timeout: float = 15.0
    """About how many seconds a peer may leave the server's ICE consent checks (RFC 7675)
    unanswered before it is dropped (``consent_expired``): a check every third of it, three
    missed in a row. What notices a listener that stopped reading (it still sends RTCP) or
    vanished; aioice's own checks would take 30 s. Not shorter: at 6 s, a saturated origin
    (its loop too late to see answers within aioice's 0.5 s) dropped its speakers in
    ``spaces-lab bench cascade``."""
    relay_host: str = "127.0.0.1"
    """Address the media workers' relay endpoints and control links bind (edges on other
    nodes must reach it)."""
    public_url: str | None = None
    """The URL other nodes reach this node's API at (requests about its rooms are forwarded
    there); None: the address it listens on."""
    workers: int = 0
    """Media worker processes under this API process; 0: the API process mixes every room
    itself (one process, one core). ``serve`` defaults to the machine's cores."""
    users: int = 10_000
    """Generated directory size when no ``users_file`` is given."""
    users_file: Path | None = None
    seed: int = 0
    heartbeat_interval: float = 1.0
    """Seconds between a node's heartbeats to the directory (its workers' loads with it)."""
    lost_after: float = 5.0
    """Seconds without a heartbeat after which another node marks a node lost and ends its
    rooms: five missed beats, so one slow commit or a paused process is not a death."""
    placement: PlacementLimits = field(default_factory=PlacementLimits)
    """What one media worker carries, for the placement policy (fill, then spill)."""

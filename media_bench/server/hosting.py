"""Who may host on this server: its follower threshold, the Ticketed Spaces rules
(``sim.rules.tickets``), and the rooms users host while it runs, added to their history."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable

from media_bench.server.users import User
from sim.rules.tickets import HOSTED_WINDOW_DAYS, unmet_ticketed_rules
from spaces_core.errors import Refused

WINDOW_SECONDS = HOSTED_WINDOW_DAYS * 86_400.0


class HostingLog:
    """When each user created a room on this server, to count Spaces hosted recently."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._started: defaultdict[str, list[float]] = defaultdict(list)

    def record(self, user_id: str, at: float | None = None) -> None:
        self._started[user_id].append(self._clock() if at is None else at)

    def hosted_30d(self, user: User) -> int:
        """The directory's history (the 30 days before the server started) plus the rooms
        hosted here within the window."""
        since = self._clock() - WINDOW_SECONDS
        return user.hosted_30d + sum(1 for at in self._started.get(user.id, ()) if at > since)


def may_host(user: User, threshold: int) -> bool:
    return user.followers >= threshold


def unmet_for_ticketed(user: User, threshold: int, log: HostingLog) -> list[str]:
    """What the user lacks to create a ticketed room (empty: nothing)."""
    unmet = [] if may_host(user, threshold) else [f"have at least {threshold:,} followers to host"]
    return unmet + unmet_ticketed_rules(user.followers, user.age, log.hosted_30d(user))


def require_may_host(user: User, ticketed: bool, threshold: int, log: HostingLog) -> None:
    """Refused (403) naming the unmet rule unless the user may create such a room."""
    if not may_host(user, threshold):
        raise Refused(403, f"hosting needs {threshold} followers; {user.id} has {user.followers}")
    unmet = unmet_for_ticketed(user, threshold, log) if ticketed else []
    if unmet:
        raise Refused(403, f"a ticketed Space's host must {'; and '.join(unmet)}")

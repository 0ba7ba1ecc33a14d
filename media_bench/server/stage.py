"""What the media of a room is told about it: who is in, who speaks, who is mixed, and which
speakers an edge carries. The rules (``rooms.Room``) live elsewhere; the media sees only this."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

Address = tuple[str, int]
"""A relay endpoint's UDP address."""


def address_of(value: Sequence[str | int]) -> Address:
    """An address from its JSON form (a list) or a tuple."""
    host, port = value
    return str(host), int(port)


@dataclass(frozen=True)
class Stage:
    """One snapshot of a room's roles, as its media applies them."""

    members: frozenset[str] = frozenset()
    speakers: tuple[str, ...] = ()
    """Members in a speaking role (each hears its own N-1 mix), host first."""
    mixed: tuple[str, ...] = ()
    """Speakers whose audio goes into the mix (not muted)."""
    remote: Mapping[str, Address] = field(default_factory=dict)
    """Speakers whose WebRTC session an edge carries: user to that edge's relay address."""

    @classmethod
    def of(
        cls,
        members: Iterable[str],
        speakers: Iterable[str],
        mixed: Iterable[str],
        remote: Mapping[str, Sequence[str | int]] | None = None,
    ) -> Stage:
        """A stage from JSON-friendly parts (lists, and addresses as lists)."""
        return cls(
            frozenset(members),
            tuple(speakers),
            tuple(mixed),
            {user: address_of(address) for user, address in (remote or {}).items()},
        )

    def with_member(self, user_id: str) -> Stage:
        return Stage(self.members | {user_id}, self.speakers, self.mixed, self.remote)

    def without(self, user_id: str) -> Stage:
        """The stage once ``user_id`` is gone (before the rules say so)."""
        return Stage(
            self.members - {user_id},
            tuple(u for u in self.speakers if u != user_id),
            tuple(u for u in self.mixed if u != user_id),
            {u: a for u, a in self.remote.items() if u != user_id},
        )

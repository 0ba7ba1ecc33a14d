"""Room rules of a Twitter-Spaces-style audio room, with no media in them.

The stage limits (a host, co-hosts, speakers) are the product's, from ``sim.rules.rooms``,
the same the simulation's stage enforces.

Every method checks everything first and only then changes state, so a refused call
(a ``Refused``) leaves the room exactly as it was.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from media_bench.common.contract import ACTIONS
from media_bench.server.broadcast import Broadcaster, Event
from sim.rules.rooms import MAX_COHOSTS, MAX_SPEAKERS, STAGE_CAPACITY
from spaces_core.errors import Refused


class Role(StrEnum):
    HOST = "host"
    COHOST = "cohost"
    SPEAKER = "speaker"
    LISTENER = "listener"

    @property
    def speaks(self) -> bool:
        return self is not Role.LISTENER


@dataclass
class Member:
    user_id: str
    role: Role
    muted: bool = False
    joined_at: float = field(default_factory=time.time)


@dataclass(frozen=True)
class Ticketing:
    price: float
    cap: int


EVENT_QUEUE = 256
_room_ids = itertools.count(1)


class Room:
    """One live (or ended) room: members and roles, tickets, messages, event subscribers."""

    def __init__(
        self,
        host: str,
        title: str = "",
        ticketing: Ticketing | None = None,
        room_id: str | None = None,
    ) -> None:
        self.id = room_id or f"r{next(_room_ids)}"
        self.host = host
        self.title = title
        self.ticketing = ticketing
        self.live = True
        self.ended_reason: str | None = None
        self.started = False
        """Its host has joined (the refund rule: a room ended before that refunds tickets)."""
        self.refunded = 0
        self.created = time.time()
        self.members: dict[str, Member] = {}
        self.banned: set[str] = set()
        self.tickets: set[str] = set()
        self.invited: set[str] = set()
        self.requests: set[str] = set()
        self.messages: deque[dict[str, Any]] = deque(maxlen=1000)
        self.speaking: list[str] = []
        self.events = Broadcaster(EVENT_QUEUE)
        self.on_change: Callable[[], None] | None = None
        """Called after every published event (the lobby watches rooms through it)."""

    # -- queries ---------------------------------------------------------------------------
    def role_of(self, user_id: str) -> Role | None:
        member = self.members.get(user_id)
        return member.role if member else None

    def speakers(self) -> list[str]:
        """Members in a speaking role, host first."""
        order = {Role.HOST: 0, Role.COHOST: 1, Role.SPEAKER: 2}
        speaking = [m for m in self.members.values() if m.role.speaks]
        return [m.user_id for m in sorted(speaking, key=lambda m: order[m.role])]

    def mixed(self) -> list[str]:
        """Speakers whose audio goes into the mix (speaking role and not muted)."""
        return [u for u in self.speakers() if not self.members[u].muted]

    def count(self, role: Role) -> int:
        return sum(1 for m in self.members.values() if m.role is role)

    def state(self) -> dict[str, Any]:
        by_role = {r: [m.user_id for m in self.members.values() if m.role is r] for r in Role}
        return {
            "id": self.id,
            "title": self.title,
            "live": self.live,
            "host": self.host,
            "host_present": self.host in self.members,
            "cohosts": by_role[Role.COHOST],
            "speakers": by_role[Role.SPEAKER],
            "muted": [m.user_id for m in self.members.values() if m.muted],
            "listener_count": len(by_role[Role.LISTENER]),
            "speaking": list(self.speaking),
            "ticket": None
            if self.ticketing is None
            else {
                "price": self.ticketing.price,
                "cap": self.ticketing.cap,
                "sold": len(self.tickets),
            },
            "created": self.created,
        }

    def summary(self) -> dict[str, Any]:
        """What the Spaces bar shows of a live room."""
        speakers = [m for m in self.members.values() if m.role.speaks]
        return {
            "id": self.id,
            "title": self.title,
            "host": self.host,
            "speaker_count": len(speakers),
            "listener_count": len(self.members) - len(speakers),
            "speaking": bool(self.speaking),
            "price": None if self.ticketing is None else self.ticketing.price,
        }

    def participants(self, limit: int) -> list[dict[str, Any]]:
        """Members, speakers first, with what a moderator needs to act on them."""
        order = {Role.HOST: 0, Role.COHOST: 1, Role.SPEAKER: 2, Role.LISTENER: 3}
        members = sorted(self.members.values(), key=lambda m: (order[m.role], m.joined_at))
        return [
            {
                "user": m.user_id,
                "role": m.role.value,
                "muted": m.muted,
                "requested": m.user_id in self.requests,
                "invited": m.user_id in self.invited,
            }
            for m in members[:limit]
        ]

    # -- guards ----------------------------------------------------------------------------
    def _require_live(self) -> None:
        if not self.live:
            raise Refused(409, f"room {self.id} has ended")

    def _require_moderator(self, actor: str) -> None:
        if self.role_of(actor) not in (Role.HOST, Role.COHOST) and actor != self.host:
            raise Refused(403, "only the host and co-hosts may do this")

    def _member(self, user_id: str) -> Member:
        member = self.members.get(user_id)
        if member is None:
            raise Refused(404, f"user {user_id} is not in room {self.id}")
        return member

    def _require_speaker_seat(self) -> None:
        if self.count(Role.SPEAKER) >= MAX_SPEAKERS:
            raise Refused(
                409,
                f"room already has {MAX_SPEAKERS} speakers besides the host and co-hosts "
                f"({STAGE_CAPACITY} on stage at most)",
            )

    # -- joining and tickets ---------------------------------------------------------------
    def check_join(self, user_id: str) -> Role:
        """The role a user would join with; Refused if it may not join."""
        self._require_live()
        if user_id in self.banned:
            raise Refused(403, f"user {user_id} was removed from this room")
        if user_id in self.members:
            raise Refused(409, f"user {user_id} is already in the room")
        if user_id == self.host:
            return Role.HOST
        if self.ticketing is not None and user_id not in self.tickets:
            raise Refused(403, "this room is ticketed and the user holds no ticket")
        return Role.LISTENER

    def join(self, user_id: str) -> Member:
        role = self.check_join(user_id)
        member = Member(user_id, role)
        self.members[user_id] = member
        self.publish({"type": "joined", "user": user_id, "role": role.value})
        return member

    def leave(self, user_id: str) -> None:
        self._member(user_id)
        del self.members[user_id]
        self.invited.discard(user_id)
        self.requests.discard(user_id)
        self.publish({"type": "left", "user": user_id})
        self.close_subscriptions(user_id)

    def buy_ticket(self, user_id: str) -> int:
        """Give the user a ticket; returns tickets sold. Never exceeds the cap."""
        self._require_live()
        if self.ticketing is None:
            raise Refused(409, "this room is free; it sells no tickets")
        if user_id in self.tickets:
            raise Refused(409, f"user {user_id} already holds a ticket")
        if user_id == self.host:
            raise Refused(409, "the host needs no ticket")
        if len(self.tickets) >= self.ticketing.cap:
            raise Refused(409, "sold out")
        self.tickets.add(user_id)
        return len(self.tickets)

    def check_end(self, actor: str) -> None:
        self._require_live()
        if actor != self.host:
            raise Refused(403, "only the host may end the room")

    def end(self, actor: str, reason: str = "ended by host") -> None:
        self.check_end(actor)
        self.stop(reason)

    def stop(self, reason: str) -> None:
        """End the room for everyone, whoever asked (the host, or the server when the room can
        no longer be carried); subscribers get ``ended``."""
        self._require_live()
        self.live = False
        self.ended_reason = reason
        self.publish({"type": "ended"})
        self.close_all()

    def close_all(self) -> None:
        """End every event subscription."""
        self.events.close()

    # -- speaking --------------------------------------------------------------------------
    def request_to_speak(self, user_id: str) -> None:
        self._require_live()
        member = self._member(user_id)
        if member.role.speaks:
            raise Refused(409, f"user {user_id} already speaks")
        self.requests.add(user_id)
        self.publish({"type": "request", "user": user_id})

    def accept_invite(self, user_id: str) -> None:
        self._require_live()
        member = self._member(user_id)
        if user_id not in self.invited:
            raise Refused(409, f"user {user_id} has no invitation to speak")
        self._require_speaker_seat()
        self.invited.discard(user_id)
        self.requests.discard(user_id)
        self._set_role(member, Role.SPEAKER)

    def act(self, actor: str, action: str, target: str) -> None:
        """A host power (invite, accept, listener, mute, unmute, cohost, remove)."""
        self._require_live()
        handler = _ACTIONS.get(action)
        if handler is None:
            raise Refused(404, f"unknown action {action!r}")
        if actor not in self.members and actor != self.host:
            raise Refused(403, f"user {actor} is not in room {self.id}")
        self_service = action in ("mute", "unmute", "listener") and actor == target
        if not self_service:
            self._require_moderator(actor)
        handler(self, actor, target)

    def _invite(self, actor: str, target: str) -> None:
        member = self._member(target)
        if member.role.speaks:
            raise Refused(409, f"user {target} already speaks")
        self._require_speaker_seat()
        self.invited.add(target)
        self.publish({"type": "invited", "user": target, "by": actor})

    def _accept(self, actor: str, target: str) -> None:
        member = self._member(target)
        if target not in self.requests:
            raise Refused(409, f"user {target} has not asked to speak")
        self._require_speaker_seat()
        self.requests.discard(target)
        self.invited.discard(target)
        self._set_role(member, Role.SPEAKER)

    def _to_listener(self, actor: str, target: str) -> None:
        member = self._member(target)
        if member.role is Role.HOST:
            raise Refused(409, "the host always speaks")
        if not member.role.speaks:
            raise Refused(409, f"user {target} is already a listener")
        member.muted = False
        self._set_role(member, Role.LISTENER)

    def _mute(self, actor: str, target: str, muted: bool = True) -> None:
        member = self._member(target)
        if not member.role.speaks:
            raise Refused(409, f"user {target} is a listener and has nothing to mute")
        if not muted and actor != target:
            raise Refused(403, "only speakers unmute themselves")
        member.muted = muted
        self.publish({"type": "muted" if muted else "unmuted", "user": target, "by": actor})

    def _unmute(self, actor: str, target: str) -> None:
        self._mute(actor, target, muted=False)

    def _cohost(self, actor: str, target: str) -> None:
        member = self._member(target)
        if member.role in (Role.HOST, Role.COHOST):
            raise Refused(409, f"user {target} is already a {member.role.value}")
        if self.count(Role.COHOST) >= MAX_COHOSTS:
            raise Refused(409, f"room already has {MAX_COHOSTS} co-hosts")
        self.invited.discard(target)
        self.requests.discard(target)
        self._set_role(member, Role.COHOST)

    def _remove(self, actor: str, target: str) -> None:
        if target == self.host:
            raise Refused(409, "the host cannot be removed")
        self._member(target)
        del self.members[target]
        self.banned.add(target)
        self.invited.discard(target)
        self.requests.discard(target)
        self.publish({"type": "removed", "user": target, "by": actor})
        self.close_subscriptions(target)

    def _set_role(self, member: Member, role: Role) -> None:
        member.role = role
        self.publish({"type": "role", "user": member.user_id, "role": role.value})

    # -- messages --------------------------------------------------------------------------
    def send_message(self, user_id: str, text: str) -> dict[str, Any]:
        self._require_live()
        self._member(user_id)
        message = {"from": user_id, "text": text, "at": time.time()}
        self.messages.append(message)
        self.publish({"type": "message", **message}, only=self._moderates)
        return message

    def _moderates(self, user_id: str) -> bool:
        return user_id == self.host or self.role_of(user_id) is Role.COHOST

    def read_messages(self, actor: str) -> list[dict[str, Any]]:
        if actor != self.host and self.role_of(actor) is not Role.COHOST:
            raise Refused(403, "only the host and co-hosts read messages")
        return list(self.messages)

    # -- events ----------------------------------------------------------------------------
    def subscribe(self, user_id: str) -> tuple[int, asyncio.Queue[Event]]:
        self._require_live()
        self._member(user_id)
        return self.events.subscribe(user_id)

    def unsubscribe(self, key: int) -> None:
        self.events.unsubscribe(key)

    def close_subscriptions(self, user_id: str) -> None:
        self.events.close(user_id)

    def publish(self, event: dict[str, Any], only: Callable[[str], bool] | None = None) -> None:
        """Send an event to every subscriber (or those ``only`` picks); see ``broadcast`` for
        what a subscriber that falls behind loses."""
        self.events.publish({"room": self.id, "at": round(time.time(), 3), **event}, only)
        if self.on_change is not None:
            self.on_change()


_ACTIONS = {
    "invite": Room._invite,
    "accept": Room._accept,
    "listener": Room._to_listener,
    "mute": Room._mute,
    "unmute": Room._unmute,
    "cohost": Room._cohost,
    "remove": Room._remove,
}
if tuple(_ACTIONS) != ACTIONS:  # the contract documents the actions; the rules run them
    raise ImportError(f"room actions {tuple(_ACTIONS)} differ from the contract's {ACTIONS}")

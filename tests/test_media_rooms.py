"""Room rules, without media: roles, limits, tickets, removal; refusals change nothing."""

import copy

import pytest

from media_bench.server.rooms import Role, Room, Ticketing
from sim.rules.rooms import MAX_SPEAKERS, STAGE_CAPACITY
from spaces_core.errors import Refused


def room_with(listeners: int, ticketing: Ticketing | None = None) -> Room:
    room = Room("host", "t", ticketing)
    room.join("host")
    for i in range(listeners):
        if ticketing is not None:
            room.buy_ticket(f"l{i}")
        room.join(f"l{i}")
    return room


def snapshot(room: Room) -> dict[str, object]:
    return copy.deepcopy(
        {
            "state": room.state(),
            "roles": {u: (m.role, m.muted) for u, m in room.members.items()},
            "banned": set(room.banned),
            "tickets": set(room.tickets),
            "invited": set(room.invited),
            "requests": set(room.requests),
        }
    )


def refused(room: Room, status: int, call, *args) -> Refused:
    before = snapshot(room)
    with pytest.raises(Refused) as info:
        call(*args)
    assert info.value.status == status
    assert snapshot(room) == before
    return info.value


def test_invite_accept_and_request_flow() -> None:
    room = room_with(2)
    room.act("host", "invite", "l0")
    assert room.role_of("l0") is Role.LISTENER
    room.accept_invite("l0")
    assert room.role_of("l0") is Role.SPEAKER
    room.request_to_speak("l1")
    room.act("host", "accept", "l1")
    assert room.speakers() == ["host", "l0", "l1"]
    room.act("host", "listener", "l0")
    assert room.role_of("l0") is Role.LISTENER


def test_at_most_10_speakers_besides_host_and_cohosts_13_on_stage() -> None:
    room = room_with(16)
    for i in range(MAX_SPEAKERS):
        room.request_to_speak(f"l{i}")
        room.act("host", "accept", f"l{i}")
    room.request_to_speak("l10")
    reason = refused(room, 409, room.act, "host", "accept", "l10").reason
    assert f"{MAX_SPEAKERS} speakers" in reason
    refused(room, 409, room.act, "host", "invite", "l11")
    room.act("host", "cohost", "l12")  # co-hosts have seats of their own
    room.act("host", "cohost", "l13")
    assert len(room.speakers()) == STAGE_CAPACITY == 13
    refused(room, 409, room.act, "host", "cohost", "l14")
    refused(room, 409, room.act, "host", "accept", "l10")


def test_a_speaker_made_cohost_frees_a_speaker_seat() -> None:
    room = room_with(12)
    for i in range(MAX_SPEAKERS):
        room.act("host", "invite", f"l{i}")
        room.accept_invite(f"l{i}")
    refused(room, 409, room.act, "host", "invite", "l10")
    room.act("host", "cohost", "l0")
    room.act("host", "invite", "l10")
    room.accept_invite("l10")
    assert room.role_of("l10") is Role.SPEAKER and room.role_of("l0") is Role.COHOST
    assert len(room.speakers()) == 12


def test_an_invitation_accepted_when_the_stage_filled_meanwhile_is_refused() -> None:
    room = room_with(12)
    room.act("host", "invite", "l11")
    for i in range(MAX_SPEAKERS):
        room.request_to_speak(f"l{i}")
        room.act("host", "accept", f"l{i}")
    refused(room, 409, room.accept_invite, "l11")


def test_at_most_two_cohosts_and_cohosts_have_host_powers() -> None:
    room = room_with(4)
    room.act("host", "cohost", "l0")
    room.act("l0", "cohost", "l1")
    assert room.role_of("l1") is Role.COHOST
    refused(room, 409, room.act, "host", "cohost", "l2")
    room.act("l0", "invite", "l2")
    room.act("l1", "remove", "l3")
    assert "l3" in room.banned


def test_non_host_cannot_promote_mute_or_remove() -> None:
    room = room_with(3)
    room.request_to_speak("l1")
    for action in ("invite", "accept", "cohost", "remove", "mute"):
        error = refused(room, 403, room.act, "l0", action, "l1")
        assert "host" in error.reason


def test_removed_user_cannot_rejoin_and_host_cannot_be_removed() -> None:
    room = room_with(1)
    room.act("host", "remove", "l0")
    assert "l0" not in room.members
    refused(room, 403, room.join, "l0")
    refused(room, 409, room.act, "host", "remove", "host")


def test_mute_by_host_unmute_only_by_self() -> None:
    room = room_with(1)
    room.request_to_speak("l0")
    room.act("host", "accept", "l0")
    room.act("host", "mute", "l0")
    assert room.mixed() == ["host"]
    refused(room, 403, room.act, "host", "unmute", "l0")
    room.act("l0", "unmute", "l0")
    assert room.mixed() == ["host", "l0"]


def test_ticketed_room_admits_ticket_holders_only_and_never_oversells() -> None:
    room = Room("host", "paid", Ticketing(price=5.0, cap=2))
    room.join("host")
    refused(room, 403, room.join, "a")
    room.buy_ticket("a")
    room.buy_ticket("b")
    assert refused(room, 409, room.buy_ticket, "c").reason == "sold out"
    refused(room, 409, room.buy_ticket, "a")
    room.join("a")
    assert room.state()["ticket"] == {"price": 5.0, "cap": 2, "sold": 2}


def test_ended_room_refuses_everything() -> None:
    room = room_with(1)
    refused(room, 403, room.end, "l0")
    room.end("host")
    refused(room, 409, room.join, "x")
    refused(room, 409, room.act, "host", "invite", "l0")
    refused(room, 409, room.send_message, "l0", "hi")
    refused(room, 409, room.end, "host")


def test_messages_go_to_host_and_cohosts_only() -> None:
    room = room_with(2)
    room.send_message("l0", "hello host")
    assert [m["text"] for m in room.read_messages("host")] == ["hello host"]
    refused(room, 403, room.read_messages, "l1")


def test_events_reach_subscribers() -> None:
    room = room_with(1)
    _, queue = room.subscribe("l0")
    room.request_to_speak("l0")
    room.act("host", "accept", "l0")
    events = [queue.get_nowait()["type"] for _ in range(queue.qsize())]
    assert events == ["request", "role"]

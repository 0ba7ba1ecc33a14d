"""The placement policy, fill then spill: never over capacity, speakers on the origin, the
origin filled before edges and edges before a new one, the entry node preferred, the same
answer for the same fleet, and runs of listeners placed as one at a time would be."""

from __future__ import annotations

import copy
from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from media_bench.server.placement import (
    Change,
    CloseRoom,
    Fleet,
    Leave,
    OpenRoom,
    Placement,
    PlacementLimits,
    Refusal,
    Seat,
    WorkerLoad,
)

#: small workers, so a few dozen listeners fill one and rooms cascade
SMALL = PlacementLimits(
    listeners_per_worker=40.0,
    room_cost=2.0,
    speaker_cost=1.0,
    relay_cost_per_edge=1.0,
    origin_headroom=6.0,
    min_open_slots=4.0,
    min_edge_slots=8.0,
)
POLICY = Placement()


limits = st.builds(
    PlacementLimits,
    listeners_per_worker=st.sampled_from([20.0, 40.0]),
    room_cost=st.sampled_from([1.0, 2.0]),
    speaker_cost=st.sampled_from([0.5, 1.0, 4.0]),
    relay_cost_per_edge=st.sampled_from([0.5, 1.0, 3.0]),
    origin_headroom=st.sampled_from([0.0, 4.0, 8.0]),
    min_open_slots=st.sampled_from([1.0, 4.0, 10.0]),
    min_edge_slots=st.sampled_from([1.0, 6.0, 12.0]),
)


def fleet_of(nodes: int, per_node: int, limits: PlacementLimits = SMALL) -> Fleet:
    workers = [
        WorkerLoad(f"n{n}/w{i}", f"n{n}", limits.listeners_per_worker)
        for n in range(nodes)
        for i in range(per_node)
    ]
    return Fleet(workers, limits)


@dataclass(frozen=True)
class Step:
    """One request: open a room, or someone joins room ``room`` (by number) via ``entry``."""

    kind: str  # open | speaker | listener | crowd | leave | close
    room: int
    entry: int | None


KINDS = ["open", "open", "speaker", "listener", "listener", "listener", "crowd", "leave",
         "leave", "close"]  # fmt: skip
CROWD = 30
steps = st.lists(
    st.builds(
        Step,
        st.sampled_from(KINDS),
        st.integers(0, 3),
        st.one_of(st.none(), st.integers(0, 2)),
    ),
    min_size=30,
    max_size=200,
)
shapes = st.tuples(st.integers(1, 3), st.integers(1, 3))


def decide(fleet: Fleet, step: Step) -> Change:
    """The policy's decision for a request, or the change a leave or an end makes."""
    entry = None if step.entry is None else f"n{step.entry}"
    room = f"r{step.room}"
    if step.kind == "open":
        if room in fleet.rooms:
            return Refusal(room, "already open")
        return POLICY.open_room(fleet, room, entry)
    if step.kind in ("leave", "close") and room not in fleet.rooms:
        return Refusal(room, "not open")
    if step.kind == "close":
        return CloseRoom(room)
    if step.kind == "leave":  # a listener leaves one of the workers holding the room's
        placed = fleet.rooms[room]
        holders = [w for w, n in [(placed.origin, placed.listeners), *placed.edges.items()] if n]
        if not holders:
            return Refusal(room, "nobody to leave")
        worker = holders[(step.entry or 0) % len(holders)]
        on = placed.listeners if worker == placed.origin else placed.edges[worker]
        return Leave(room, worker, min(on, 1 + step.room), speaking=False)
    return POLICY.join(fleet, room, step.kind == "speaker", entry)


def run(fleet: Fleet, step: Step) -> list[Change]:
    """Carry out one step on the fleet; what was decided."""
    if step.kind == "crowd":
        entry = None if step.entry is None else f"n{step.entry}"
        return list(POLICY.join_listeners(fleet, f"r{step.room}", CROWD, entry))
    change = decide(fleet, step)
    fleet.apply(change)
    return [change]


def replay(shape: tuple[int, int], plan: list[Step], limits: PlacementLimits = SMALL
           ) -> tuple[Fleet, list[Change]]:  # fmt: skip
    fleet = fleet_of(*shape, limits)
    decisions: list[Change] = []
    for step in plan:
        decisions += run(fleet, step)
    return fleet, decisions


@settings(max_examples=150, deadline=None)
@given(shapes, steps, limits)
def test_no_worker_is_ever_over_capacity_and_speakers_sit_on_the_origin(
    shape: tuple[int, int], plan: list[Step], limits: PlacementLimits
) -> None:
    fleet = fleet_of(*shape, limits)
    for step in plan:
        for decision in run(fleet, step):
            if isinstance(decision, Seat) and decision.speaking:
                assert decision.worker_id == fleet.rooms[decision.room_id].origin
        for worker_id in fleet.workers:
            assert fleet.free(worker_id) >= -1e-9, (worker_id, step)
        assert counts_agree(fleet)


def counts_agree(fleet: Fleet) -> bool:
    """Each worker's counts are the sums over the rooms placed on it."""
    expected = {w: [0, 0, 0, 0] for w in fleet.workers}  # listeners, rooms, edges, relays
    for room in fleet.rooms.values():
        assert room.origin not in room.edges and all(room.edges.values())
        expected[room.origin][0] += room.listeners
        expected[room.origin][1] += 1
        expected[room.origin][3] += len(room.edges)
        for edge, listeners in room.edges.items():
            expected[edge][0] += listeners
            expected[edge][2] += 1
    found = {w: [x.listeners, x.rooms, x.edges, x.relays] for w, x in fleet.workers.items()}
    return found == expected


@settings(max_examples=150, deadline=None)
@given(shapes, steps)
def test_listeners_fill_the_origin_then_edges_then_a_new_edge(
    shape: tuple[int, int], plan: list[Step]
) -> None:
    fleet = fleet_of(*shape)
    for step in plan:
        if step.kind == "crowd":
            run(fleet, step)
            continue
        decision = decide(fleet, step)
        if isinstance(decision, OpenRoom):  # the most free worker that fits, entry node first
            entry = None if step.entry is None else f"n{step.entry}"
            fits = [w for w in fleet.workers if fleet.fits_room(w)]
            local = [w for w in fits if w.startswith(f"{entry}/")]
            assert decision.worker_id == min(local or fits, key=lambda w: (-fleet.free(w), w))
        if isinstance(decision, Seat) and not decision.speaking:
            room = fleet.rooms[decision.room_id]
            if decision.worker_id != room.origin:
                assert fleet.listener_slots(room.origin) == 0  # the origin is full
            if decision.new_edge:  # every edge the room has is full
                assert all(fleet.listener_slots(edge) == 0 for edge in room.edges)
                entry = None if step.entry is None else f"n{step.entry}"
                slots = {w: fleet.listener_slots(w) for w in fleet.workers
                         if w != room.origin and w not in room.edges}  # fmt: skip
                # ... and a new edge goes where at least min_edge_slots are free
                roomy = [w for w, n in slots.items() if n >= SMALL.min_edge_slots]
                local = [w for w in roomy if w.startswith(f"{entry}/")]
                pool = local or roomy
                assert decision.worker_id == min(pool, key=lambda w: (-slots[w], w))
        if (
            isinstance(decision, Refusal)
            and step.kind == "listener"
            and decision.room_id in (fleet.rooms)
        ):
            room = fleet.rooms[decision.room_id]
            assert fleet.listener_slots(room.origin) == 0
            assert all(fleet.listener_slots(edge) == 0 for edge in room.edges)
            if decision.fleet_full:  # no other worker could open an edge: the fleet is full
                others = set(fleet.workers) - {room.origin, *room.edges}
                assert not any(fleet.fits_edge(w) for w in others)
        if isinstance(decision, Refusal) and step.kind == "open" and decision.fleet_full:
            assert not any(fleet.fits_room(w) for w in fleet.workers)
        fleet.apply(decision)


@settings(max_examples=100, deadline=None)
@given(shapes, steps)
def test_the_same_fleet_and_requests_give_the_same_placement(
    shape: tuple[int, int], plan: list[Step]
) -> None:
    first_fleet, first = replay(shape, plan)
    second_fleet, second = replay(shape, plan)
    assert first == second
    assert first_fleet.rooms == second_fleet.rooms


@settings(max_examples=300, deadline=None)
@given(shapes, steps, st.integers(1, 300), st.one_of(st.none(), st.integers(0, 2)), limits)
def test_a_run_of_listeners_lands_as_one_at_a_time_would(
    shape: tuple[int, int], plan: list[Step], count: int, entry: int | None,
    limits: PlacementLimits,
) -> None:  # fmt: skip
    entry_node = None if entry is None else f"n{entry}"
    fleet, _ = replay(shape, plan, limits)  # rooms, edges and leaves already there
    if "r0" not in fleet.rooms:
        fleet.apply(POLICY.open_room(fleet, "r0", entry_node))
        if "r0" not in fleet.rooms:
            return
    one_by_one = copy.deepcopy(fleet)
    for _ in range(count):
        seat = POLICY.join(one_by_one, "r0", False, entry_node)
        one_by_one.apply(seat)
        if isinstance(seat, Refusal):
            break
    POLICY.join_listeners(fleet, "r0", count, entry_node)
    assert fleet.rooms == one_by_one.rooms
    assert fleet.workers == one_by_one.workers


def test_the_entry_node_is_preferred_when_it_has_room() -> None:
    fleet = fleet_of(2, 2)
    opened = POLICY.open_room(fleet, "r", "n1")
    assert opened == OpenRoom("r", "n1/w0")
    fleet.apply(opened)
    assert POLICY.open_room(fleet, "s", None) == OpenRoom("s", "n0/w0")  # most free, then id
    assert POLICY.open_room(fleet, "s", "n1") == OpenRoom("s", "n1/w1")


def test_a_room_too_big_for_the_fleet_is_refused_with_a_reason() -> None:
    fleet = fleet_of(1, 2)
    fleet.apply(POLICY.open_room(fleet, "r"))
    placed = POLICY.join_listeners(fleet, "r", 10_000)
    refusal = placed[-1]
    assert isinstance(refusal, Refusal) and "free listener slot" in refusal.reason
    assert fleet.rooms["r"].total_listeners == sum(d.count for d in placed if isinstance(d, Seat))
    assert POLICY.join(fleet, "nowhere", False) == Refusal("nowhere", "room nowhere has no origin")


def test_max_edges_per_origin_follows_from_the_limits() -> None:
    limits = PlacementLimits()
    assert limits.max_edges_per_origin == pytest.approx(
        (limits.listeners_per_worker - limits.room_cost - 13 * limits.speaker_cost)
        // limits.relay_cost_per_edge
    )
    assert SMALL.max_edges_per_origin == 40 - 2 - 13


def test_listeners_go_to_the_edge_with_most_room_after_others_left() -> None:
    fleet = fleet_of(1, 4)  # origin 40 - 2 - 6 = 32 listener slots, edges 40
    fleet.apply(POLICY.open_room(fleet, "r"))
    POLICY.join_listeners(fleet, "r", 32 + 40 + 40)
    room = fleet.rooms["r"]
    first, second = sorted(room.edges)
    fleet.apply(Leave("r", first, 10, speaking=False))
    fleet.apply(Leave("r", second, 12, speaking=False))
    seats = POLICY.join_listeners(fleet, "r", 8)
    assert [(s.worker_id, s.count) for s in seats if isinstance(s, Seat)] == [
        (second, 2),
        (first, 1),
        (second, 1),
        (first, 1),
        (second, 1),
        (first, 1),
        (second, 1),
    ]
    assert (room.edges[first], room.edges[second]) == (33, 33) and len(room.edges) == 2


@settings(max_examples=150, deadline=None)
@given(shapes, steps, limits)
def test_a_new_room_seats_its_first_listeners_on_its_origin(
    shape: tuple[int, int], plan: list[Step], limits: PlacementLimits
) -> None:
    """A room opens only where its host and ``min_open_slots`` listeners fit: a room that
    small never cascades, however full the rest of the fleet is."""
    fleet, _ = replay(shape, plan, limits)
    opened = POLICY.open_room(fleet, "new")
    if isinstance(opened, Refusal):
        assert opened.fleet_full and not any(fleet.fits_room(w) for w in fleet.workers)
        return
    fleet.apply(opened)
    fleet.apply(POLICY.join_speakers(fleet, "new", 1))
    seats = POLICY.join_listeners(fleet, "new", int(limits.min_open_slots))
    assert [(s.worker_id, s.new_edge) for s in seats if isinstance(s, Seat)] == [
        (opened.worker_id, False)
    ]


def test_a_nearly_full_fleet_refuses_a_room_and_an_edge_rather_than_squeezing_them() -> None:
    """A worker with fewer than ``min_open_slots`` (``min_edge_slots``) free takes no new room
    (edge): the old rule opened them there, and a room of 30 cascaded onto 60 workers."""
    fleet = fleet_of(1, 4)  # 40 each; SMALL.min_open_slots is 4, min_edge_slots 8
    fleet.apply(POLICY.open_room(fleet, "big"))  # n0/w0
    POLICY.join_listeners(fleet, "big", 32 + 40 + 37)  # origin 40 - 2 - 6, then two edges
    assert [fleet.listener_slots(w) for w in sorted(fleet.workers)] == [0, 0, 3, 40]
    fleet.apply(POLICY.open_room(fleet, "small"))  # n0/w3, the only one with room
    fleet.apply(POLICY.join_speakers(fleet, "small", 1))
    seats = POLICY.join_listeners(fleet, "small", 31 + 1)  # 40 - 2 - 1 - 6 on the origin
    assert [(s.worker_id, s.count) for s in seats if isinstance(s, Seat)] == [("n0/w3", 31)]
    refused = seats[-1]  # n0/w2 has 3 slots: not enough for an edge
    assert isinstance(refused, Refusal) and refused.fleet_full
    assert "8 free listener slots" in refused.reason
    assert POLICY.join(fleet, "big", False) == Seat("big", "n0/w2", 1, False)  # its own edge
    no_room = POLICY.open_room(fleet, "third")
    assert isinstance(no_room, Refusal) and no_room.fleet_full
    fleet.add_worker(WorkerLoad("n1/w0", "n1", 40.0))  # a plan grows the fleet instead
    assert POLICY.open_room(fleet, "third") == OpenRoom("third", "n1/w0")
    assert POLICY.join(fleet, "small", False) == Seat("small", "n1/w0", 1, False, new_edge=True)


def test_limits_keep_at_least_one_open_slot() -> None:
    with pytest.raises(ValueError, match="min_open_slots"):
        PlacementLimits(min_open_slots=0.0)
    with pytest.raises(ValueError, match="min_edge_slots"):
        PlacementLimits(min_edge_slots=0.5)


@settings(max_examples=200, deadline=None)
@given(shapes, steps, limits, st.integers(1, 12), st.integers(0, 3), st.integers(0, 40))
def test_rooms_of_one_size_open_as_one_at_a_time_would(
    shape: tuple[int, int], plan: list[Step], limits: PlacementLimits, count: int,
    speakers: int, listeners: int,
) -> None:  # fmt: skip
    """``open_rooms`` (a plan's runs of whole rooms) is ``open_room``, ``join_speakers`` and
    ``join_listeners`` room by room, and stops at the first room that would not sit whole
    on its origin."""
    fleet, _ = replay(shape, plan, limits)
    one_by_one = copy.deepcopy(fleet)
    ids = [f"new{i}" for i in range(count)]
    done = POLICY.open_rooms(fleet, ids, speakers, listeners)

    def place(room_id: str) -> bool:
        opened = POLICY.open_room(one_by_one, room_id)
        if isinstance(opened, Refusal):
            return False
        one_by_one.apply(opened)
        seated = POLICY.join_speakers(one_by_one, room_id, speakers)
        one_by_one.apply(seated)
        if isinstance(seated, Refusal):
            return False
        POLICY.join_listeners(one_by_one, room_id, listeners)
        placed = one_by_one.rooms[room_id]
        return not placed.edges and placed.listeners == listeners

    for room_id in ids[:done]:
        assert place(room_id)
    assert fleet.rooms == one_by_one.rooms
    assert fleet.workers == one_by_one.workers
    if done < count:
        assert not place(ids[done])

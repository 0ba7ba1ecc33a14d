"""The control link between an API process and a media worker, over a real WebSocket: calls
carry their arguments and results, refusals keep their status, notices reach the link that
opened the room, and a broken link closes that link's rooms on the worker."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import pytest
from aiohttp import web

from media_bench.server.metrics import Metrics
from media_bench.server.worker_client import RemoteMediaHost
from media_bench.server.worker_control import ControlLinks, control_app
from media_bench.server.worker_protocol import METHODS, MediaCarrier, WorkerFailed
from spaces_core.errors import Refused


class RecordingCarrier:
    """Answers like a media host and records every call it got."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.rooms: set[str] = set()

    async def open_origin(self, room_id: str) -> None:
        self.calls.append(("open_origin", {"room_id": room_id}))
        self.rooms.add(room_id)

    async def open_edge(self, room_id: str, origin: Sequence[Any]) -> None:
        self.calls.append(("open_edge", {"room_id": room_id, "origin": origin}))
        self.rooms.add(room_id)

    async def add_edge(self, room_id: str, edge: Sequence[Any]) -> None:
        self.calls.append(("add_edge", {"room_id": room_id, "edge": edge}))

    async def remove_edge(self, room_id: str, edge: Sequence[Any]) -> None:
        self.calls.append(("remove_edge", {"room_id": room_id, "edge": edge}))

    async def connect(self, room_id: str, user_id: str, offer_sdp: str) -> str:
        self.calls.append(("connect", {"room_id": room_id, "user_id": user_id}))
        if room_id not in self.rooms:
            raise Refused(404, f"no media for room {room_id}")
        if offer_sdp == "crash":
            raise RuntimeError("the codec library fell over")
        await asyncio.sleep(0.05)
        return f"answer for {user_id}"

    async def commit(self, room_id: str, user_id: str) -> None:
        self.calls.append(("commit", {"room_id": room_id, "user_id": user_id}))

    async def discard(self, room_id: str, user_id: str) -> None:
        self.calls.append(("discard", {"room_id": room_id, "user_id": user_id}))

    async def sync(
        self,
        room_id: str,
        members: list[str],
        speakers: list[str],
        mixed: list[str],
        remote: dict[str, Sequence[Any]],
    ) -> None:
        self.calls.append(
            (
                "sync",
                {
                    "room_id": room_id,
                    "members": members,
                    "speakers": speakers,
                    "mixed": mixed,
                    "remote": remote,
                },
            )
        )

    async def disconnect(self, room_id: str, user_id: str) -> None:
        self.calls.append(("disconnect", {"room_id": room_id, "user_id": user_id}))

    async def close_room(self, room_id: str) -> None:
        self.calls.append(("close_room", {"room_id": room_id}))
        self.rooms.discard(room_id)


def test_the_protocol_lists_every_carrier_method() -> None:
    declared = {name for name in dir(MediaCarrier) if not name.startswith("_")}
    assert set(METHODS) == declared


def test_calls_results_refusals_and_notices_cross_the_link() -> None:
    async def body() -> None:
        carrier, links = RecordingCarrier(), ControlLinks()
        runner = web.AppRunner(control_app(carrier, links, Metrics(lambda: (0, {}))))
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        url = f"http://127.0.0.1:{runner.addresses[0][1]}"
        levels: list[tuple[str, dict[str, float]]] = []
        drops: list[tuple[str, str, str]] = []
        owner = RemoteMediaHost(
            url,
            on_levels=lambda r, lv: levels.append((r, lv)),
            on_drop=lambda r, u, why: drops.append((r, u, why)),
        )
        other = RemoteMediaHost(url, on_levels=lambda r, lv: levels.append(("other", lv)))
        await owner.start()
        await other.start()
        try:
            await owner.open_origin("r1")
            await owner.open_edge("r2", ("127.0.0.1", 4000))
            answers = await asyncio.gather(
                owner.connect("r1", "u1", "v=0"), other.connect("r1", "u2", "v=0")
            )
            assert list(answers) == ["answer for u1", "answer for u2"]
            await owner.sync("r1", ["u1"], ["u1"], [], {"u9": ("10.0.0.2", 5000)})
            assert carrier.calls[-1] == (
                "sync",
                {
                    "room_id": "r1",
                    "members": ["u1"],
                    "speakers": ["u1"],
                    "mixed": [],
                    "remote": {"u9": ["10.0.0.2", 5000]},
                },
            )
            with pytest.raises(Refused) as refused:
                await owner.connect("r404", "u1", "v=0")
            assert refused.value.status == 404 and "r404" in refused.value.reason
            with pytest.raises(WorkerFailed) as failed:
                await owner.connect("r1", "u3", "crash")
            assert failed.value.status == 503 and "fell over" in failed.value.reason

            links.levels("r1", {"u1": -20.0})
            links.drop("r1", "u2", "receive_timeout")
            await asyncio.sleep(0.1)
            assert levels == [("r1", {"u1": -20.0})]  # the opener's link only
            assert drops == [("r1", "u2", "receive_timeout")]

            await owner.close()  # the API process is gone: its rooms close on the worker
            await asyncio.sleep(0.2)
            closed = {args["room_id"] for name, args in carrier.calls if name == "close_room"}
            assert closed == {"r1", "r2"} and not carrier.rooms
            with pytest.raises(WorkerFailed):
                await owner.connect("r1", "u1", "v=0")
        finally:
            await owner.close()
            await other.close()
            await runner.cleanup()

    asyncio.run(body())

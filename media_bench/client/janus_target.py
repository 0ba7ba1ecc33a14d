"""Janus as a ``Target``: AudioBridge rooms for speakers, listeners on a Streaming mountpoint
fed by the bridge's mix (``streaming``), or every participant in the AudioBridge
(``audiobridge``).

``streaming`` is Janus's answer to this server's design: the AudioBridge mixes and encodes
one mix per speaker (N-1) and one for an RTP forwarder (``rtp_forward``, to the mountpoint's
port on the namespace's loopback); the mountpoint relays those packets to every listener
without re-encoding. ``audiobridge`` encodes a mix for every participant, listeners too.

Janus runs in a network namespace (``janus_process``); the peers of this process gather ICE
candidates on the host side of its veth pair only (``host_addresses_only``) for as long as a
``JanusRooms`` is open.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from pathlib import Path

from aiortc import RTCPeerConnection, RTCSessionDescription

from media_bench.client.bots import Peer, ProbeMode
from media_bench.client.janus_api import JanusError, JanusHandle, JanusSession
from media_bench.client.janus_process import JanusProcess
from media_bench.client.marks import Signal
from media_bench.client.netns import HOST_ADDRESS
from media_bench.client.target import ProcessTarget
from media_bench.client.targets import JANUS_DESIGNS, JANUS_LABELS, JanusDesign
from media_bench.common.aiortc_internals import host_addresses_only
from media_bench.common.audio import SAMPLE_RATE

AUDIOBRIDGE = "janus.plugin.audiobridge"
STREAMING = "janus.plugin.streaming"
OPUS_PT = 111


def _jsep(pc: RTCPeerConnection) -> dict[str, str]:
    return {"type": pc.localDescription.type, "sdp": pc.localDescription.sdp}


class BridgeSignalling:
    """Join an AudioBridge room with an offer; Janus answers. A listener offers receive-only
    and joins muted."""

    def __init__(self, janus: JanusSession, room: int, display: str, speaks: bool) -> None:
        self.janus = janus
        self.room = room
        self.display = display
        self.speaks = speaks
        self.handle: JanusHandle | None = None

    async def connect(self, pc: RTCPeerConnection) -> str:
        if not pc.getTransceivers():
            pc.addTransceiver("audio", direction="recvonly")
        self.handle = await self.janus.attach(AUDIOBRIDGE)
        await pc.setLocalDescription(await pc.createOffer())
        body = {"request": "join", "room": self.room, "display": self.display,
                "muted": not self.speaks}  # fmt: skip
        _, jsep = await self.handle.message(body, _jsep(pc))
        if jsep is None:
            raise JanusError("audiobridge: join answered without an SDP answer")
        await pc.setRemoteDescription(RTCSessionDescription(jsep["sdp"], jsep["type"]))
        return "speaker" if self.speaks else "listener"

    async def hang_up(self) -> None:
        if self.handle is not None:
            handle, self.handle = self.handle, None
            await handle.detach()


class StreamSignalling:
    """Watch a Streaming mountpoint: Janus offers, the peer answers and starts."""

    def __init__(self, janus: JanusSession, mountpoint: int) -> None:
        self.janus = janus
        self.mountpoint = mountpoint
        self.handle: JanusHandle | None = None

    async def connect(self, pc: RTCPeerConnection) -> str:
        self.handle = await self.janus.attach(STREAMING)
        _, offer = await self.handle.message({"request": "watch", "id": self.mountpoint})
        if offer is None:
            raise JanusError("streaming: watch answered without an SDP offer")
        await pc.setRemoteDescription(RTCSessionDescription(offer["sdp"], offer["type"]))
        await pc.setLocalDescription(await pc.createAnswer())
        await self.handle.message({"request": "start"}, _jsep(pc))
        return "listener"

    async def hang_up(self) -> None:
        if self.handle is not None:
            handle, self.handle = self.handle, None
            await handle.detach()


class JanusRooms:
    """Rooms and peers of one Janus, through one session (its long poll shared by all)."""

    def __init__(self, url: str, design: JanusDesign) -> None:
        self.design = design
        self.janus = JanusSession(url)
        self._opened = False
        self._admin: dict[str, JanusHandle] = {}
        self._names = itertools.count(1)
        self._candidates = contextlib.ExitStack()
        self._lock: asyncio.Lock | None = None

    @property
    def metrics(self) -> None:
        """Janus has no ``/metrics``: the load generator counts what it received."""
        return None

    async def _handle(self, plugin: str) -> JanusHandle:
        """The session's handle for room requests to ``plugin``; the first call opens the
        session (the users of a swarm process share it)."""
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            if not self._opened:
                self._candidates.enter_context(host_addresses_only([HOST_ADDRESS]))
                await self.janus.open()
                self._opened = True
            if plugin not in self._admin:
                self._admin[plugin] = await self.janus.attach(plugin)
            return self._admin[plugin]

    async def create_room(self, title: str) -> str:
        bridge = await self._handle(AUDIOBRIDGE)
        created = await bridge.request(
            {"request": "create", "description": title, "sampling_rate": SAMPLE_RATE}
        )
        room = int(created["room"])
        if self.design == "streaming":
            streaming = await self._handle(STREAMING)
            # port 0: the plugin picks a free one (swarm processes create rooms side by side)
            media = {"type": "audio", "mid": "a", "port": 0, "pt": OPUS_PT,
                     "codec": "opus", "rtpmap": "opus/48000/2"}  # fmt: skip
            mount = await streaming.request({"request": "create", "type": "rtp", "id": room,
                                             "description": title, "media": [media],
                                             "permanent": False})  # fmt: skip
            port = int(mount["stream"]["ports"][0]["port"])
            await bridge.request({"request": "rtp_forward", "room": room,
                                  "host": "127.0.0.1", "port": port, "ptype": OPUS_PT,
                                  "codec": "opus", "always_on": True})  # fmt: skip
        return str(room)

    async def live_rooms(self) -> list[str]:
        bridge = await self._handle(AUDIOBRIDGE)
        listed = await bridge.request({"request": "list"})
        return [str(r["room"]) for r in listed.get("list", []) if r.get("num_participants")]

    async def speaker(self, room: str, signal: Signal, probe: ProbeMode = "count") -> Peer:
        await self._handle(AUDIOBRIDGE)  # the session open, candidates restricted
        name = f"speaker-{next(self._names)}"
        return Peer(BridgeSignalling(self.janus, int(room), name, True), signal, probe)

    async def listener(self, room: str, probe: ProbeMode = "count") -> Peer:
        await self._handle(AUDIOBRIDGE)
        if self.design == "streaming":  # the room's mountpoint has the room's id
            return Peer(StreamSignalling(self.janus, int(room)), None, probe)
        name = f"listener-{next(self._names)}"
        return Peer(BridgeSignalling(self.janus, int(room), name, False), None, probe)

    async def end_room(self, room: str) -> None:
        if self.design == "streaming":
            streaming = await self._handle(STREAMING)
            await streaming.request({"request": "destroy", "id": int(room)})
        bridge = await self._handle(AUDIOBRIDGE)
        await bridge.request({"request": "destroy", "room": int(room)})

    async def close(self) -> None:
        try:
            await self.janus.close()
        finally:
            self._opened = False
            self._candidates.close()


class JanusServer(ProcessTarget):
    """Janus in a network namespace, with the AudioBridge and Streaming plugins."""

    close_peers_first = True

    def __init__(self, design: JanusDesign = "streaming", log: Path | None = None) -> None:
        self.design = design
        self.name = next(n for n, d in JANUS_DESIGNS.items() if d == design)
        self.label = JANUS_LABELS[design]
        self.process = JanusProcess(log=log)

    def rooms(self) -> JanusRooms:
        return JanusRooms(self.process.url, self.design)


def janus_server(name: str, log: Path | None = None) -> JanusServer:
    """The Janus design a ``--target`` name stands for."""
    return JanusServer(JANUS_DESIGNS[name], log)

"""How a bot's peer connection is negotiated with the server under test.

The bots own their peer connection and what it sends and measures; a ``Signalling`` owns
the offer/answer with one server: this server's join API (the bot offers), or Janus's
plugins (``janus_target``: the bot offers to the AudioBridge, Janus's Streaming offers).
"""

from __future__ import annotations

from typing import Protocol

from aiortc import RTCPeerConnection, RTCSessionDescription

from media_bench.client.api import ApiClient


class Signalling(Protocol):
    async def connect(self, pc: RTCPeerConnection) -> str:
        """Negotiate ``pc`` (its outgoing tracks already added) with the server; returns the
        role the server gave. Media flows once ICE and DTLS complete."""
        ...

    async def hang_up(self) -> None:
        """Release what the server holds for this peer beyond its connection (the peer
        connection itself is already closed)."""
        ...


class ApiSignalling:
    """This server's join call: the bot offers, the answer carries the role."""

    def __init__(self, api: ApiClient, token: str, room_id: str) -> None:
        self.api = api
        self.token = token
        self.room_id = room_id

    async def connect(self, pc: RTCPeerConnection) -> str:
        if not pc.getTransceivers():
            pc.addTransceiver("audio", direction="recvonly")
        await pc.setLocalDescription(await pc.createOffer())
        answer = await self.api.join(self.token, self.room_id, pc.localDescription.sdp)
        await pc.setRemoteDescription(RTCSessionDescription(answer.sdp, "answer"))
        return answer.role

    async def hang_up(self) -> None:
        """Nothing: the server drops a closed peer; leaving the room is an API call."""

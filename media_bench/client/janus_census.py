"""Who is in Janus's rooms, read from its HTTP API and written as this server's
``/metrics`` lines, so a swarm's sampler and summary read Janus as they read ours.

``spaces_participants{role="speaker"}``: unmuted AudioBridge participants;
``{role="listener"}``: muted ones plus every Streaming viewer. Blocking calls, for the
sampler's thread.
"""

from __future__ import annotations

import itertools
import json
import urllib.request
from typing import Any

from media_bench.client.janus_api import JanusError

_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))
TIMEOUT = 5.0


class JanusCensus:
    """A Janus session of its own with one AudioBridge and one Streaming handle."""

    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")
        self._transactions = itertools.count(1)
        self._handles: dict[str, str] = {}

    def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        body = {**body, "transaction": f"census-{next(self._transactions)}"}
        request = urllib.request.Request(
            self.url + path, json.dumps(body).encode(), {"Content-Type": "application/json"}
        )
        with _DIRECT.open(request, timeout=TIMEOUT) as response:
            answer: dict[str, Any] = json.loads(response.read())
        if answer.get("janus") == "error":
            raise JanusError(str(answer.get("error")))
        return answer

    def _ask(self, plugin: str, body: dict[str, Any]) -> dict[str, Any]:
        if not self._handles:
            session = self._post("", {"janus": "create"})["data"]["id"]
            for name in ("janus.plugin.audiobridge", "janus.plugin.streaming"):
                handle = self._post(f"/{session}", {"janus": "attach", "plugin": name})
                self._handles[name] = f"/{session}/{handle['data']['id']}"
        try:
            answer = self._post(self._handles[plugin], {"janus": "message", "body": body})
        except JanusError:
            self._handles.clear()  # the session timed out: a new one next time
            raise
        data: dict[str, Any] = answer.get("plugindata", {}).get("data", {})
        return data

    def count(self) -> tuple[int, int]:
        """(speakers, listeners) in every room now."""
        speakers = listeners = 0
        rooms = self._ask("janus.plugin.audiobridge", {"request": "list"}).get("list", [])
        for room in rooms:
            found = self._ask(
                "janus.plugin.audiobridge", {"request": "listparticipants", "room": room["room"]}
            )
            for participant in found.get("participants", []):
                if participant.get("muted"):
                    listeners += 1
                else:
                    speakers += 1
        mountpoints = self._ask("janus.plugin.streaming", {"request": "list"}).get("list", [])
        for mountpoint in mountpoints:  # "list" leaves the viewers out; "info" has them
            found = self._ask("janus.plugin.streaming", {"request": "info", "id": mountpoint["id"]})
            listeners += int(found.get("info", {}).get("viewers", 0))
        return speakers, listeners

    def metrics_text(self) -> str:
        """The census as ``/metrics`` text; raises OSError when Janus does not answer."""
        try:
            speakers, listeners = self.count()
        except (JanusError, ValueError, KeyError) as error:
            raise OSError(f"Janus census: {error}") from error
        return (
            "# TYPE spaces_participants gauge\n"
            f'spaces_participants{{role="speaker"}} {speakers}\n'
            f'spaces_participants{{role="listener"}} {listeners}\n'
        )

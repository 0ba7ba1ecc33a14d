"""Sample the server's live rooms (``GET /rooms``) at a fixed interval, in a background thread:
each room's listeners and stage as the server counts them, for the achieved shape of a replay."""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from typing import Any

import pandas as pd

from media_bench.common.contract import route

ROOM_SAMPLE_COLUMNS = ("at", "room_id", "title", "listeners", "speakers")
"""``at``: epoch seconds; ``speakers``: the host (when present), co-hosts and speakers."""


class RoomSampler:
    def __init__(self, url: str, every_s: float = 0.5) -> None:
        self.url = url.rstrip("/")
        self.every_s = every_s
        self.rows: list[dict[str, Any]] = []
        self.errors = 0
        self._token = ""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="room-sampler", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.wait(self.every_s):
            self.sample()

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, data=data, method=method,
                                         headers={"Content-Type": "application/json"})
        if self._token:
            request.add_header("Authorization", f"Bearer {self._token}")
        with urllib.request.urlopen(request, timeout=5) as response:
            return json.loads(response.read())

    def sample(self) -> None:
        try:
            if not self._token:
                users = self._call("GET", route("list_users").url() + "?limit=1")["users"]
                self._token = self._call("POST", route("issue_token").url(),
                                         {"user": users[0]["id"]})["token"]
            rooms = self._call("GET", route("list_rooms").url())["rooms"]
        except (OSError, ValueError, KeyError, IndexError):
            self.errors += 1
            return
        at = time.time()
        for room in rooms:
            stage = len(room["speakers"]) + len(room["cohosts"]) + int(room["host_present"])
            self.rows.append({"at": at, "room_id": room["id"], "title": room["title"],
                              "listeners": int(room["listener_count"]), "speakers": stage})

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.rows, columns=list(ROOM_SAMPLE_COLUMNS))

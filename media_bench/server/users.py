"""The user directory: ids and follower counts, from a file or the sim's distribution."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from sim import followers


@dataclass(frozen=True)
class User:
    id: str
    followers: int


def sample_followers(n: int, seed: int) -> npt.NDArray[np.int64]:
    """Follower counts from the sim's fitted distribution."""
    return np.asarray(followers.sample_followers(n, seed), dtype=np.int64)


class UserDirectory:
    """Users by id; read-only once built."""

    def __init__(self, users: Iterable[User]) -> None:
        self._users = {u.id: u for u in users}

    def __len__(self) -> int:
        return len(self._users)

    def get(self, user_id: str) -> User | None:
        return self._users.get(user_id)

    def all(self) -> list[User]:
        return list(self._users.values())

    @classmethod
    def generate(cls, n: int, seed: int = 0) -> UserDirectory:
        """``n`` users ``u0..u{n-1}`` with sampled follower counts."""
        counts = sample_followers(n, seed)
        return cls(User(f"u{i}", int(c)) for i, c in enumerate(counts))

    @classmethod
    def load(cls, path: Path) -> UserDirectory:
        """Users from CSV (columns ``id,followers``) or JSON (a list of such objects)."""
        text = path.read_text()
        rows: list[dict[str, object]]
        if path.suffix.lower() == ".json":
            loaded = json.loads(text)
            if not isinstance(loaded, list):
                raise ValueError(f"{path}: expected a JSON list of users")
            rows = loaded
        else:
            rows = list(csv.DictReader(text.splitlines()))
        users = []
        for number, row in enumerate(rows, start=1):
            try:
                user_id = str(row["id"]).strip()
                followers = int(str(row["followers"]))
            except (KeyError, TypeError, ValueError) as error:
                raise ValueError(f"{path}: user {number} needs id and integer followers") from error
            if not user_id or followers < 0:
                raise ValueError(f"{path}: user {number} has an empty id or negative followers")
            users.append(User(user_id, followers))
        return cls(users)

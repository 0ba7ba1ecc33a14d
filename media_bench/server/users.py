"""The user directory: ids, follower counts, ages and recent hosting, from a file or generated
from the simulation's distributions."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from sim import followers
from sim.hosts import HostingParams, daily_host_prob
from sim.rules.tickets import HOSTED_WINDOW_DAYS, MIN_HOST_AGE, TicketParams

#: Ages of generated users: adults (the scenario's adult share) uniform over these years,
#: minors over 13..17 (the youngest age the app allows).
ADULT_AGES = (MIN_HOST_AGE, 70)
MINOR_AGES = (13, MIN_HOST_AGE - 1)


@dataclass(frozen=True)
class User:
    id: str
    followers: int
    age: int | None = None
    """Years; None when unknown (then not known to be 18 or older)."""
    hosted_30d: int = 0
    """Spaces hosted in the 30 days before the server started."""


def sample_followers(n: int, seed: int) -> npt.NDArray[np.int64]:
    """Follower counts from the sim's fitted distribution."""
    return np.asarray(followers.sample_followers(n, seed), dtype=np.int64)


def sample_ages(n: int, rng: np.random.Generator) -> npt.NDArray[np.int64]:
    """Ages with the simulation's default share of adults (``TicketParams.adult_share``)."""
    adult = rng.random(n) < TicketParams().adult_share
    adult_age = rng.integers(ADULT_AGES[0], ADULT_AGES[1] + 1, n)
    minor_age = rng.integers(MINOR_AGES[0], MINOR_AGES[1] + 1, n)
    return np.where(adult, adult_age, minor_age).astype(np.int64)


def sample_hosted_30d(
    counts: npt.NDArray[np.int64], rng: np.random.Generator
) -> npt.NDArray[np.int64]:
    """Spaces hosted in the last 30 days, as if every account had taken up hosting: one draw
    a day at the simulation's daily hosting probability for its followers."""
    daily = daily_host_prob(counts.astype(float), HostingParams())
    return rng.binomial(HOSTED_WINDOW_DAYS, daily).astype(np.int64)


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
        """``n`` users ``u0..u{n-1}`` with sampled follower counts, ages and recent hosting."""
        counts = sample_followers(n, seed)
        # a stream of its own, so the follower counts of a seed stay what they were
        rng = np.random.default_rng([seed, 1])
        ages = sample_ages(n, rng)
        hosted = sample_hosted_30d(counts, rng)
        return cls(
            User(f"u{i}", int(c), int(a), int(h))
            for i, (c, a, h) in enumerate(zip(counts, ages, hosted, strict=True))
        )

    @classmethod
    def load(cls, path: Path) -> UserDirectory:
        """Users from CSV (columns ``id,followers`` and optionally ``age,hosted_30d``) or JSON
        (a list of such objects). A missing or empty age is unknown; missing hosting is 0."""
        text = path.read_text()
        rows: list[dict[str, object]]
        if path.suffix.lower() == ".json":
            loaded = json.loads(text)
            if not isinstance(loaded, list):
                raise ValueError(f"{path}: expected a JSON list of users")
            rows = loaded
        else:
            rows = list(csv.DictReader(text.splitlines()))
        return cls(
            _user_of(row, f"{path}: user {number}") for number, row in enumerate(rows, start=1)
        )


def _user_of(row: Mapping[str, object], where: str) -> User:
    try:
        user_id = str(row["id"]).strip()
        follower_count = int(str(row["followers"]))
    except (KeyError, TypeError, ValueError) as error:
        raise ValueError(f"{where} needs id and integer followers") from error
    if not user_id or follower_count < 0:
        raise ValueError(f"{where} has an empty id or negative followers")
    age = _optional_count(row, "age", where)
    hosted = _optional_count(row, "hosted_30d", where)
    return User(user_id, follower_count, age, 0 if hosted is None else hosted)


def _optional_count(row: Mapping[str, object], name: str, where: str) -> int | None:
    raw = row.get(name)
    if raw is None or str(raw).strip() == "":
        return None
    try:
        value = int(str(raw))
    except ValueError as error:
        raise ValueError(f"{where}: {name} must be an integer, got {raw!r}") from error
    if value < 0:
        raise ValueError(f"{where}: {name} must be >= 0, got {value}")
    return value

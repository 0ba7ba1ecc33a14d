"""The room / speaker / listener mix of a projected peak hour, scaled to a swarm's size."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from spaces_core.runfolder import latest_run, read_table


@dataclass(frozen=True)
class HourMix:
    """Concurrent rooms, speakers (hosts included) and listeners in one simulated hour."""

    rooms: float
    speakers: float
    listeners: float
    date: str = ""
    hour: int = 0
    source: str = ""

    def scaled(self, users: int) -> tuple[int, int, int]:
        """(hosts, speakers besides hosts, listeners) for a swarm of ``users`` users."""
        if users < 3:
            raise ValueError(f"users: a mix needs at least 3 users, got {users}")
        total = self.speakers + self.listeners
        hosts = max(1, round(users * self.rooms / total))
        speakers = max(1, round(users * max(self.speakers - self.rooms, 0.0) / total))
        listeners = max(1, users - hosts - speakers)
        return hosts, speakers, listeners


def peak_hour(rooms: pd.DataFrame, source: str = "") -> HourMix:
    """The sampled hour with the most concurrent listeners (median across replications)."""
    if rooms.empty:
        raise ValueError("the sim run has no sampled room hours")
    by_hour = (
        rooms.groupby(["date", "hour"])[["live_rooms_mean", "speakers_mean", "listeners_mean"]]
        .median()
        .reset_index()
    )
    row = by_hour.iloc[int(by_hour["listeners_mean"].to_numpy().argmax())]
    return HourMix(rooms=float(row["live_rooms_mean"]), speakers=float(row["speakers_mean"]),
                   listeners=float(row["listeners_mean"]),
                   date=str(pd.Timestamp(row["date"]).date()), hour=int(row["hour"]),
                   source=source)


def from_run(run: Path | None = None) -> HourMix:
    """The peak hour of a sim run folder (default: the newest under runs/)."""
    if run is None:
        run = latest_run("sim")
        if run is None:
            raise FileNotFoundError("no sim run folder under runs/: run `spaces-lab sim run` "
                                    "or pass --sim-run")
    return peak_hour(read_table(run, "rooms"), source=str(run))

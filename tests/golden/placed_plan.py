"""The seeded capacity-plan table: a small run's busiest peak minute placed with the server's
policy, summarised (``PlacedFleet.summary`` without the timing).

Regenerate (only when a model or placement change is intended, and say why in the commit):
    .venv/bin/python -m tests.golden.placed_plan
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from sim.model import run_replication
from spaces_lab.capacity import PlacedPlan, plan_peak
from tests.conftest import small_scenario

GOLDEN = Path(__file__).with_name("placed_plan_small_seed2.csv")
SEED = 2
CORES_PER_NODE = 4


def seeded_plan() -> PlacedPlan:
    rep = run_replication(small_scenario(), seed=SEED, rep=0)
    return plan_peak(rep.peak_rooms, cores_per_node=CORES_PER_NODE)


def plan_summary(plan: PlacedPlan) -> pd.DataFrame:
    table = plan.placed.summary()
    table = table[table["quantity"] != "seconds to place"]
    return table[["quantity", "value"]].astype({"value": str}).reset_index(drop=True)


if __name__ == "__main__":
    plan_summary(seeded_plan()).to_csv(GOLDEN, index=False)
    print(f"wrote {GOLDEN}")

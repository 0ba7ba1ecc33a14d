"""Benchmark of the room model: simulated listener sessions per second.

``python -m sim.bench`` times, in one run:

1. a *large room* (default 16,667 concurrent listeners for 2 h, ~100k sessions) two ways: the
   naive model, where every listener is a SimPy process (join, ``yield env.timeout(stay)``,
   leave) and a sampler process records the count at every whole minute, and the aggregated
   engine (:func:`sim.rooms.simulate_day`: the whole room, stage, requests, removals and
   messages included). Both start from the same sessions, and the naive per-minute counts are
   checked equal to the aggregated ones;
2. a *very large room* (200,000 concurrent listeners for 3 h, ~1.8M sessions: the size of the
   largest Spaces), aggregated only;
3. a *realistic day*: 20,000 rooms of eligible hosts (followers >= 600, Pareto tail of
   exponent 1.3 as in Kwak et al.), default audiences and schedule, 2% ticketed.

Sessions per second = listener sessions / wall time, session generation included in both.
The aggregated rate is the best of a few repeats (the machine is shared); the naive one runs
once (it takes seconds).

Then it times whole replications of a scenario (2019-2023): ``--reps N`` of them, each in a
fresh process, one after another (seconds per replication: each, mean and best), and with
``--parallel-reps M`` M more through ``sim.runner`` on every core (wall time, the figure that
bounds a run of many replications). ``--replication-only`` skips the room benchmark.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import resource
import time
from collections.abc import Callable, Generator
from multiprocessing.connection import Connection
from typing import Any

import numpy as np
import pandas as pd
import simpy
from numpy.typing import NDArray
from tqdm import tqdm

from sim.room_sessions import MINUTES_PER_DAY, generate_sessions, minute_concurrency
from sim.rooms import DayRooms, RoomParams, draw_audience, draw_schedule, simulate_day

FloatArray = NDArray[np.float64]

TARGET_SESSIONS_PER_S = 1_000_000


def naive_concurrency(start: FloatArray, end: FloatArray) -> tuple[FloatArray, int]:
    """One SimPy process per listener; returns per-minute concurrency (folded to 1440) and events.

    Counting is the aggregated engine's: a listener present over ``[start, end)`` is counted at
    every whole minute ``m`` with ``start <= m < end``.
    """
    env = simpy.Environment()
    present = [0]
    length = int(np.ceil(end.max())) + 1 if end.shape[0] else 1
    length = -(-length // MINUTES_PER_DAY) * MINUTES_PER_DAY
    samples = np.zeros(length)
    order = np.argsort(start, kind="stable")
    starts, stays = start[order].tolist(), (end - start)[order].tolist()

    def listener(stay: float) -> Generator[Any, Any, None]:
        present[0] += 1  # join
        yield env.timeout(stay)
        present[0] -= 1  # leave

    def arrivals() -> Generator[Any, Any, None]:
        for t, stay in zip(starts, stays, strict=True):
            if t > env.now:
                yield env.timeout(t - env.now)
            env.process(listener(stay))

    def sampler() -> Generator[Any, Any, None]:
        for minute in range(length):
            if minute > env.now:
                yield env.timeout(minute - env.now)
            # Let the leaves due at this very minute (stays cut at the room's end) go first.
            yield env.timeout(0)
            samples[minute] = present[0]

    env.process(arrivals())
    env.process(sampler())
    events = 0
    try:
        while True:
            env.step()
            events += 1
    except simpy.core.EmptySchedule:
        pass
    return samples.reshape(-1, MINUTES_PER_DAY).sum(axis=0), events


def one_room(audience: float, duration_min: float, start_min: float = 600.0) -> DayRooms:
    """A day with a single (non-ticketed) room."""
    return DayRooms(
        host_id=np.zeros(1, dtype=np.int64),
        start_min=np.array([start_min]),
        duration_min=np.array([duration_min]),
        audience=np.array([audience]),
        weight=np.ones(1),
        ticketed=np.zeros(1, dtype=np.bool_),
    )


def realistic_day(n_rooms: int, params: RoomParams, rng: np.random.Generator) -> DayRooms:
    """``n_rooms`` rooms of eligible hosts: followers 600 * Pareto(1.3), default audiences."""
    followers = 600.0 * rng.random(n_rooms) ** (-1.0 / 1.3)
    start, duration = draw_schedule(n_rooms, params, rng)
    ticketed = rng.random(n_rooms) < 0.02
    audience = draw_audience(followers, params, rng)
    return DayRooms(
        host_id=np.arange(n_rooms, dtype=np.int64),
        start_min=start,
        duration_min=duration,
        audience=audience,
        weight=np.ones(n_rooms),
        ticketed=ticketed,
    )


def _best_of(repeats: int, run: Callable[[], tuple[int, int]]) -> tuple[float, int, int]:
    best = np.inf
    sessions = events = 0
    for _ in range(repeats):
        t0 = time.perf_counter()
        sessions, events = run()
        best = min(best, time.perf_counter() - t0)
    return best, sessions, events


def run_bench(
    naive_sessions: int = 100_000,
    big_audience: float = 200_000.0,
    mix_rooms: int = 20_000,
    repeats: int = 3,
    seed: int = 0,
) -> pd.DataFrame:
    """Time the cases in the module docstring; one row per case."""
    params = RoomParams()
    duration = 120.0
    audience = naive_sessions * params.listen_mean_min / duration
    large = one_room(audience, duration)
    rows: list[dict[str, Any]] = []
    label = f"{audience:,.0f} listeners x {duration:.0f} min"

    def aggregated(rooms: DayRooms) -> Callable[[], tuple[int, int]]:
        def run() -> tuple[int, int]:
            result = simulate_day(rooms, params, np.random.default_rng(seed))
            return result.sessions, result.events

        return run

    steps = tqdm(total=4, desc="sim.bench", unit="case", leave=False)
    # 1. Naive, one process per listener, on the large room's sessions.
    t0 = time.perf_counter()
    sess = generate_sessions(
        large.start_min,
        large.start_min + large.duration_min,
        large.audience,
        large.ticketed,
        params,
        np.random.default_rng(seed),
    )
    naive, naive_events = naive_concurrency(sess.start, sess.end)
    naive_s = time.perf_counter() - t0
    check = minute_concurrency(sess.start, sess.end, np.ones(len(sess)))
    mismatch = float(np.abs(naive - check).max())
    rows.append(
        dict(
            case="naive: 1 SimPy process per listener",
            room=label,
            sessions=len(sess),
            seconds=naive_s,
            events=naive_events,
            note=f"per-minute counts differ from aggregated by at most {mismatch:g}",
        )
    )
    steps.update()
    # 2. Aggregated engine, same room.
    seconds, sessions, events = _best_of(repeats, aggregated(large))
    rows.append(
        dict(case="aggregated", room=label, sessions=sessions, seconds=seconds, events=events)
    )
    steps.update()
    # 3. Aggregated, very large room.
    seconds, sessions, events = _best_of(repeats, aggregated(one_room(big_audience, 180.0)))
    rows.append(
        dict(
            case="aggregated",
            room=f"{big_audience:,.0f} listeners x 180 min",
            sessions=sessions,
            seconds=seconds,
            events=events,
        )
    )
    steps.update()
    # 4. Aggregated, a realistic day's mix of rooms.
    mix = realistic_day(mix_rooms, params, np.random.default_rng(seed + 1))
    seconds, sessions, events = _best_of(repeats, aggregated(mix))
    rows.append(
        dict(
            case="aggregated",
            room=f"day mix: {mix_rooms:,} rooms, median audience "
            f"{np.median(mix.audience):.0f}, max {mix.audience.max():,.0f}",
            sessions=sessions,
            seconds=seconds,
            events=events,
        )
    )
    steps.update()
    steps.close()

    table = pd.DataFrame(rows)
    table["sessions_per_s"] = table["sessions"] / table["seconds"]
    table["vs_naive"] = table["sessions_per_s"] / table["sessions_per_s"].iloc[0]
    table["note"] = table["note"].fillna("")
    return table[
        ["case", "room", "sessions", "seconds", "sessions_per_s", "vs_naive", "events", "note"]
    ]


TARGET_REPLICATION_S = 30.0
#: issue #14: 100 replications of the baseline in <= 3 minutes on this machine's two cores
TARGET_PARALLEL_WALL_PER_REP_S = 180.0 / 100
TARGET_PEAK_GIB = 2.0


def _replication_child(scenario_name: str, seed: int, answer: Connection) -> None:
    from sim import room_kernels, scenario, stage_kernel
    from sim.model import run_replication

    chosen = scenario.load(scenario_name)
    # The compiled kernels' one-time load (per process, like the imports): timed apart.
    loading = time.perf_counter()
    room_kernels.warm_up()
    if room_kernels.ENABLED:
        stage_kernel.warm_up()
    kernels_s = time.perf_counter() - loading
    started = time.perf_counter()
    rep = run_replication(chosen, seed=seed, rep=0)
    seconds = time.perf_counter() - started
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    answer.send({
        "seconds": seconds,
        "kernels_load_s": kernels_s,
        "peak_gib": peak_kib / 2**20,
        "sessions": rep.stats["listener_sessions"],
        "events": rep.stats["room_events"],
        "days": len(rep.rooms_daily),
        "sampled_days": int(rep.rooms_daily["sampled"].sum()),
    })
    answer.close()


def bench_full_replication(scenario_name: str = "baseline", seed: int = 1) -> dict[str, float]:
    """One replication over the whole 2019-2023 horizon in a fresh process: wall time and the
    process's peak resident memory (so nothing else this process did is counted)."""
    context = multiprocessing.get_context("spawn")
    receive, send = context.Pipe(duplex=False)
    child = context.Process(target=_replication_child, args=(scenario_name, seed, send))
    child.start()
    result: dict[str, float] = receive.recv()
    child.join()
    result["sessions_per_s"] = result["sessions"] / result["seconds"]
    return result


def print_full_replication(result: dict[str, float], scenario_name: str) -> None:
    time_ok = "OK" if result["seconds"] <= TARGET_REPLICATION_S else "ABOVE TARGET"
    mem_ok = "OK" if result["peak_gib"] <= TARGET_PEAK_GIB else "ABOVE TARGET"
    print(
        f"full replication ({scenario_name}, 2019-2023, {result['days']:.0f} days, "
        f"{result['sampled_days']:.0f} sampled room days): {result['seconds']:.1f} s "
        f"(target <= {TARGET_REPLICATION_S:.0f} s: {time_ok}), peak memory "
        f"{result['peak_gib']:.2f} GiB (target <= {TARGET_PEAK_GIB:.0f} GiB: {mem_ok}); "
        f"compiled kernels loaded once before it in {result['kernels_load_s']:.2f} s; "
        f"{result['sessions']:,.0f} listener sessions, {result['sessions_per_s']:,.0f} sessions/s "
        f"including everything else the replication does"
    )


def bench_parallel(scenario_name: str, reps: int, seed: int = 1) -> dict[str, float]:
    """Wall time of ``reps`` replications through ``sim.runner`` on every core."""
    from sim import runner, scenario

    chosen = scenario.load(scenario_name)
    workers = os.cpu_count() or 1
    started = time.perf_counter()
    result = runner.run(chosen, reps=reps, seed=seed, workers=workers, progress=False)
    seconds = time.perf_counter() - started
    return {"reps": reps, "workers": min(workers, reps), "seconds": seconds,
            "per_rep_s": seconds / reps,
            "mean_rep_s": float(result.stats["seconds"].mean())}


def print_replications(results: list[dict[str, float]], scenario_name: str) -> None:
    """One line per replication, then the mean and best seconds per replication."""
    for number, result in enumerate(results, start=1):
        print(f"  replication {number}/{len(results)}: {result['seconds']:.2f} s")
    seconds = np.array([r["seconds"] for r in results])
    print(f"{scenario_name}: {seconds.mean():.2f} s per replication (mean of {len(results)}, "
          f"best {seconds.min():.2f} s, each in a fresh process)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sim.bench", description=__doc__.split("\n")[0])
    parser.add_argument("--naive-sessions", type=int, default=100_000)
    parser.add_argument("--big-audience", type=float, default=200_000.0)
    parser.add_argument("--mix-rooms", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--scenario", default="baseline",
                        help="scenario for the full-replication timing (default: baseline)")
    parser.add_argument("--skip-replication", action="store_true",
                        help="only the listener-session benchmark")
    parser.add_argument("--replication-only", action="store_true",
                        help="only the full-replication timings")
    parser.add_argument("--reps", type=int, default=1,
                        help="replications to time one after another, each in a fresh process "
                             "(seeds 1..N, default 1)")
    parser.add_argument("--parallel-reps", type=int, default=0,
                        help="also time this many replications through sim.runner on every "
                             "core and print the wall time (default 0: skip)")
    args = parser.parse_args(argv)
    if args.reps < 1 or args.parallel_reps < 0:
        parser.error("--reps must be >= 1 and --parallel-reps >= 0")
    if not args.replication_only:
        _print_room_bench(args)
    if args.skip_replication:
        return 0
    print(f"timing {args.reps} full replication(s) of {args.scenario}, each in a fresh "
          "process ...", flush=True)
    results = [bench_full_replication(args.scenario, seed=seed)
               for seed in range(1, args.reps + 1)]
    print_full_replication(results[0], args.scenario)
    if args.reps > 1:
        print_replications(results, args.scenario)
    if args.parallel_reps:
        print(f"timing {args.parallel_reps} replications of {args.scenario} through sim.runner "
              f"on {os.cpu_count()} cores ...", flush=True)
        run = bench_parallel(args.scenario, args.parallel_reps)
        print(f"{args.parallel_reps} replications of {args.scenario} on {run['workers']:.0f} "
              f"workers: {run['seconds']:.1f} s wall ({run['seconds'] / 60:.1f} min), "
              f"{run['per_rep_s']:.2f} s of wall time per replication (target <= "
              f"{TARGET_PARALLEL_WALL_PER_REP_S:.1f} s: "
              f"{'OK' if run['per_rep_s'] <= TARGET_PARALLEL_WALL_PER_REP_S else 'ABOVE TARGET'}"
              f"), {run['mean_rep_s']:.2f} s per replication inside its worker")
    return 0


def _print_room_bench(args: argparse.Namespace) -> None:
    table = run_bench(
        naive_sessions=args.naive_sessions,
        big_audience=args.big_audience,
        mix_rooms=args.mix_rooms,
        repeats=args.repeats,
        seed=args.seed,
    )
    with pd.option_context("display.width", 200, "display.max_colwidth", 60):
        print(
            table.drop(columns="note").to_string(
                index=False,
                formatters={
                    "sessions": "{:,}".format,
                    "seconds": "{:.3f}".format,
                    "sessions_per_s": "{:,.0f}".format,
                    "vs_naive": "{:.1f}x".format,
                    "events": "{:,}".format,
                },
            )
        )
    print(f"check: {table['note'].iloc[0]}")
    large = table.iloc[1]
    ratio = large["sessions_per_s"] / table["sessions_per_s"].iloc[0]
    verdict = "OK" if large["sessions_per_s"] >= TARGET_SESSIONS_PER_S else "BELOW TARGET"
    print(
        f"large room: aggregated {large['sessions_per_s']:,.0f} sessions/s vs naive "
        f"{table['sessions_per_s'].iloc[0]:,.0f} sessions/s = {ratio:.1f}x "
        f"(target >= {TARGET_SESSIONS_PER_S:,}: {verdict})"
    )


if __name__ == "__main__":
    raise SystemExit(main())

"""The server's user directory: ages and recent hosting, generated or from a file, and the
hosting the server adds while it runs."""

import json
from pathlib import Path

import numpy as np
import pytest

from media_bench.server.hosting import HostingLog, unmet_for_ticketed
from media_bench.server.users import (
    ADULT_AGES,
    MINOR_AGES,
    User,
    UserDirectory,
    sample_followers,
)
from sim.hosts import HostingParams, daily_host_prob
from sim.rules.tickets import HOSTED_WINDOW_DAYS, TicketParams


def test_generated_users_are_seeded_with_plausible_ages_and_hosting() -> None:
    users = UserDirectory.generate(4_000, seed=3).all()
    assert users == UserDirectory.generate(4_000, seed=3).all()
    assert users != UserDirectory.generate(4_000, seed=4).all()
    followers = np.array([u.followers for u in users])
    assert (followers == sample_followers(4_000, 3)).all()  # the new fields left these alone
    ages = np.array([u.age for u in users])
    assert ages.min() >= MINOR_AGES[0] and ages.max() <= ADULT_AGES[1]
    assert np.mean(ages >= 18) == pytest.approx(TicketParams().adult_share, abs=0.02)
    hosted = np.array([u.hosted_30d for u in users])
    expected = HOSTED_WINDOW_DAYS * daily_host_prob(followers.astype(float), HostingParams())
    assert hosted.mean() == pytest.approx(expected.mean(), rel=0.1)
    log = HostingLog()
    sellers = [u for u in users if not unmet_for_ticketed(u, 600, log)]
    assert 0 < len(sellers) < len(users) / 10


def test_a_users_file_may_give_age_and_hosting(tmp_path: Path) -> None:
    path = tmp_path / "users.json"
    path.write_text(json.dumps([{"id": "a", "followers": 5, "age": 30, "hosted_30d": 2},
                                {"id": "b", "followers": 7}]))
    assert UserDirectory.load(path).all() == [User("a", 5, 30, 2), User("b", 7, None, 0)]


@pytest.mark.parametrize(
    ("row", "words"),
    [("a,5,old,1", "age must be an integer"), ("a,5,30,-1", "hosted_30d must be >= 0")],
)
def test_a_bad_age_or_history_names_the_field(tmp_path: Path, row: str, words: str) -> None:
    path = tmp_path / "users.csv"
    path.write_text(f"id,followers,age,hosted_30d\n{row}\n")
    with pytest.raises(ValueError, match=words):
        UserDirectory.load(path)


def test_rooms_hosted_here_leave_the_history_after_30_days() -> None:
    now = [1_000_000.0]
    log = HostingLog(clock=lambda: now[0])
    user = User("a", 5_000, 30, 2)
    assert log.hosted_30d(user) == 2
    log.record("a")
    now[0] += 86_400.0 * (HOSTED_WINDOW_DAYS - 1)
    assert log.hosted_30d(user) == 3
    now[0] += 86_400.0 * 2
    assert log.hosted_30d(user) == 2

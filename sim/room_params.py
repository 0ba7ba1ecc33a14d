"""Parameters of the room model (scenario table ``[rooms]``), with the basis of every default.

Spaces itself published no audience, duration or moderation figures, so most defaults are
*scenario assumptions*, chosen to agree with the proxies in CALIBRATION.md ("Audiences of live
rooms"): Periscope's mean of ~37 viewers per broadcast, heavily skewed; Twitch's 6 / 26 / 250
average viewers at the top 21% / 5% / 1% of channels; "most Spaces only received dozens".
The fixed limits of the product (1 host + 2 co-hosts + 10 speakers = 13) are not parameters:
they are facts of the product, in ``sim.rules.rooms``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields


@dataclass(frozen=True)
class RoomParams:
    """How rooms start, how long they run, who listens and what happens on stage."""

    # --- schedule: start rate over the UTC day is 1 + A*cos(2*pi*(hour - peak)/24) ---------------
    #: Hour (UTC) of the most room starts. Scenario assumption: 20:00 UTC is evening in Europe
    #: and West Africa and afternoon in the Americas; Twitter's mDAU were ~80% outside the US.
    peak_hour_utc: float = 20.0
    #: Relative swing of the start rate (0 = flat, < 1): 0.5 gives a 3:1 peak-to-trough ratio.
    #: Scenario assumption (a global mix of time zones flattens any single country's cycle).
    diurnal_amplitude: float = 0.5
    #: Room length, lognormal. Scenario assumption: median 45 min, sigma 0.8 (mean ~62 min,
    #: 1 room in 20 longer than ~2.7 h); no public figure exists.
    duration_median_min: float = 45.0
    duration_sigma: float = 0.8
    #: Longest room simulated (lognormal draws are cut here). Scenario assumption: 12 h.
    duration_max_min: float = 720.0

    # --- audience: expected concurrent listeners = scale * followers**elasticity * LN(0, sigma) ---
    #: Median audience of a 1,000-follower host: 0.085 * 1000**0.75 ~ 15 concurrent listeners
    #: ("most only received dozens"); a 1,500-follower host (typical eligible host) has median
    #: ~20 and mean ~42 with the noise below (Periscope: mean ~37, skewed); 1M followers ->
    #: median ~2,700 ("thousands"); 50M followers -> median ~50,000, noise tail to hundreds of
    #: thousands (the largest Spaces). Elasticity < 1: reach grows slower than followers.
    #: Scenario assumption fitted to these proxies. Check against ``sim.followers`` (eligible
    #: hosts, >= 600 followers, median ~1,040): median room ~18 concurrent listeners, mean ~51
    #: (a bit above Periscope's 37, whose broadcasters had no follower threshold), 39% of rooms
    #: >= 26, 2.9% >= 250, 0.3% >= 1,000.
    audience_scale: float = 0.085
    audience_elasticity: float = 0.75
    #: Lognormal noise (median 1) between rooms of similar hosts: sigma 1.2 puts the top 1% of
    #: rooms of one host size at ~16x its median (Twitch: top 1% is ~40x the top-21% level,
    #: which also includes spread in channel size). Scenario assumption.
    audience_sigma: float = 1.2

    # --- listeners (aggregated, never one process each) -------------------------------------------
    #: Mean time a listener stays in a room, lognormal with this sigma, cut at the room's end.
    #: Scenario assumption: Clubhouse listeners spent over an hour a day in the app, spread over
    #: several rooms and visits -> ~20 min per visit.
    listen_mean_min: float = 20.0
    listen_sigma: float = 1.0
    #: Visits per distinct listener of a room (>= 1): > 1 means people drop and rejoin, which is
    #: what lets a removed listener's later visit be blocked. Scenario assumption.
    sessions_per_listener: float = 1.25
    #: Ticketed rooms: each ticket holder joins once, after an exponential delay with this mean
    #: from the room's start, and stays to the end (they paid). Scenario assumption.
    ticket_arrival_mean_min: float = 5.0
    #: Rooms a listener of the day listens to (>= 1): turns the rooms' distinct listeners into
    #: the day's unique listeners (``sim.reach``). Scenario assumption from the same Clubhouse
    #: proxy as ``listen_mean_min``: an hour a day at ~25 min per room (1.25 visits of ~20 min)
    #: is ~2.4 rooms; Spaces listeners are more casual, so 2.
    rooms_per_listener_day: float = 2.0

    # --- stage (SimPy resource of 13 slots) -------------------------------------------------------
    #: Probability that each of the two co-host slots is used (co-host joins at the start and
    #: stays). Scenario assumption.
    cohost_prob: float = 0.3
    #: Speakers the host brings on stage at the start (Poisson mean, at most 10; they stay to the
    #: end). Scenario assumption: most Spaces are a conversation between a few people.
    initial_speakers_mean: float = 2.0
    #: Requests to speak per listener-hour. Scenario assumption: 1 listener in 10 asks per hour.
    speak_requests_per_listener_hour: float = 0.1
    #: Probability the host invites a requester up (if a slot is free; else declined).
    #: Scenario assumption.
    invite_prob: float = 0.3
    #: Listeners a host invites to speak on their own, per hour the room is live (Poisson, only
    #: while someone listens and a speaker seat is free; the invitee accepts). Not the same fact
    #: as ``invite_prob``, which is the host's answer to a request. Scenario assumption: one guest
    #: every half hour, so a median 45-min room brings up ~1.5 guests besides its opening
    #: speakers (host powers in CALIBRATION.md: invite people to speak; no rate was published).
    host_invites_per_room_hour: float = 2.0
    #: Mean time an invited listener speaks (exponential, cut at the room's end) before going
    #: back to listening. Scenario assumption.
    speak_mean_min: float = 8.0

    # --- moderation and messages ------------------------------------------------------------------
    #: Removals of noisy participants per listener-hour. Scenario assumption: 1 per 500
    #: listener-hours (a 1,000-listener room sees ~2 an hour).
    removals_per_listener_hour: float = 0.002
    #: Probability a removed listener tries to rejoin (always blocked), after an exponential
    #: delay with the mean below. Scenario assumption.
    rejoin_attempt_prob: float = 0.3
    rejoin_delay_mean_min: float = 2.0
    #: Messages to the host per listener-hour (Poisson). Scenario assumption.
    messages_per_listener_hour: float = 0.5

    def validate(self) -> None:
        """Raise ``ValueError("rooms.<field>: <why>")`` for the first bad value."""
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError(f"rooms.{f.name}: must be a number, got {value!r}")
            if not math.isfinite(value):
                raise ValueError(f"rooms.{f.name}: must be finite, got {value!r}")
        checks: list[tuple[str, bool, str]] = [
            ("peak_hour_utc", 0.0 <= self.peak_hour_utc < 24.0, "must be in [0, 24)"),
            ("diurnal_amplitude", 0.0 <= self.diurnal_amplitude < 1.0, "must be in [0, 1)"),
            ("duration_median_min", self.duration_median_min > 0.0, "must be > 0"),
            ("duration_sigma", self.duration_sigma >= 0.0, "must be >= 0"),
            ("duration_max_min", 1.0 <= self.duration_max_min <= 1440.0, "must be in [1, 1440]"),
            ("audience_scale", self.audience_scale >= 0.0, "must be >= 0"),
            ("audience_elasticity", 0.0 <= self.audience_elasticity <= 1.5, "must be in [0, 1.5]"),
            ("audience_sigma", self.audience_sigma >= 0.0, "must be >= 0"),
            ("listen_mean_min", self.listen_mean_min > 0.0, "must be > 0"),
            ("listen_sigma", 0.0 <= self.listen_sigma <= 3.0, "must be in [0, 3]"),
            ("sessions_per_listener", self.sessions_per_listener >= 1.0, "must be >= 1"),
            ("ticket_arrival_mean_min", self.ticket_arrival_mean_min >= 0.0, "must be >= 0"),
            ("rooms_per_listener_day", self.rooms_per_listener_day >= 1.0, "must be >= 1"),
            ("cohost_prob", 0.0 <= self.cohost_prob <= 1.0, "must be a probability"),
            ("initial_speakers_mean", self.initial_speakers_mean >= 0.0, "must be >= 0"),
            (
                "speak_requests_per_listener_hour",
                self.speak_requests_per_listener_hour >= 0.0,
                "must be >= 0",
            ),
            ("invite_prob", 0.0 <= self.invite_prob <= 1.0, "must be a probability"),
            ("host_invites_per_room_hour", self.host_invites_per_room_hour >= 0.0, "must be >= 0"),
            ("speak_mean_min", self.speak_mean_min > 0.0, "must be > 0"),
            ("removals_per_listener_hour", self.removals_per_listener_hour >= 0.0, "must be >= 0"),
            (
                "rejoin_attempt_prob",
                0.0 <= self.rejoin_attempt_prob <= 1.0,
                "must be a probability",
            ),
            ("rejoin_delay_mean_min", self.rejoin_delay_mean_min >= 0.0, "must be >= 0"),
            ("messages_per_listener_hour", self.messages_per_listener_hour >= 0.0, "must be >= 0"),
        ]
        for name, ok, why in checks:
            if not ok:
                raise ValueError(f"rooms.{name}: {why}, got {getattr(self, name)!r}")

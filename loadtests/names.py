"""Names under which a swarm reports to Locust (kept free of Locust imports, so the CLI and
tests can read them without Locust monkey-patching their process)."""

API = "API"
AUDIO = "AUDIO"
JOIN_TIME = "join: offer to first audio"
MOUTH_TO_ARRIVAL = "latency: mouth to arrival"
MOUTH_TO_EAR = "latency: mouth to ear"
JITTER = "jitter (ms)"
LOSS = "packet loss (per mille)"
RELATIVE_DELAY = "relative delay (ms)"
"""Arrival minus RTP time, less the stream's least: needs no clock shared across machines."""
MARKS_LOST = "marks lost (per mille)"
"""Of the timing marks due at probe listeners in a reporting window, those never read."""
NO_AUDIO = "join: no audio"
"""A participant that heard nothing after joining (a failure, with how long it waited)."""
LEVELS_RATE = "room events: levels per s"
"""What a replayed listener got of its room's 200 ms levels events, per second of its visit."""

EXCEEDED = "threshold exceeded"
UNCHECKED = "threshold not checked"
"""Prefixes of the verdict lines the locustfile prints and ``spaces-lab swarm`` collects."""

PROBE_EVERY = 20
"""Default: every 20th listener of a process (the first included) decodes to time the marks."""
FULL_PROBE_EVERY = 50
"""Default: every 50th listener runs aiortc's whole receive path (mouth-to-ear)."""

CONCEALED = "loss after playout buffer (per mille)"
"""Packets lost or too late for a ``quality.PLAYOUT_DEPTH`` buffer, per reporting window."""
LOSS_BURST = "loss burst (packets)"
"""Length of each run of consecutive packets the playout buffer had to conceal."""
BY_ROOM = "AUDIO BY ROOM"
"""Request type of the audio figures again, per role and room: named ``figure | role | room``."""
BY_ROOM_SEPARATOR = " | "

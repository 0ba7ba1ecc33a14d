DELIVER: int
FAILED: int
FIRST: int

class Counter:
    packets: int
    jitter: float
    transit: float
    played: int
    concealed: int
    late: int
    first_arrival: float | None
    expected: int
    bursts: list[int]
    def __init__(
        self,
        sample_rate: float,
        relative_every: int,
        relative_keep: int,
        playout_depth: float,
        playout_window: int,
        settle: int,
        /,
    ) -> None: ...
    def on_header(self, sequence: int, timestamp: int, now: float, /) -> bool: ...
    def counters(self) -> tuple[int, int]: ...
    def playout_counters(self) -> tuple[int, int]: ...
    def take_relative_delays(self) -> list[float]: ...

class Reader:
    def fileno(self) -> int: ...
    def add(self, fd: int, counter: Counter, /) -> None: ...
    def remove(self, fd: int, /) -> None: ...
    def drain(self) -> list[tuple[int, int, object, object]] | None: ...
    def close(self) -> None: ...

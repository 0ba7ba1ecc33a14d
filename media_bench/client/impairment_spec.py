"""What a bad network does to datagrams, written as ``loss=2%,delay=40ms,jitter=10ms,burst=3``.

- ``loss``: share of datagrams dropped, in percent (``0%`` up to ``90%``).
- ``burst``: mean length, in datagrams, of a run of losses. Without it losses are independent
  (Bernoulli); with it they follow a two-state Gilbert-Elliott chain whose bad state drops
  every datagram and whose good state drops none, tuned so the long-run loss is ``loss``.
- ``delay``: fixed one-way delay (``ms`` or ``s``).
- ``jitter``: each datagram's delay varies uniformly within +-``jitter`` of ``delay`` (netem's
  default distribution), never below zero; datagrams may then overtake each other.

``none`` (or an empty string) is no impairment. Free of aiortc and asyncio: the command line
checks a spec with this module alone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MAX_LOSS_PCT = 90.0
MAX_DELAY_S = 10.0
NONE = "none"


class ImpairmentSpecError(ValueError):
    """A spec that does not parse; the message names the bad field."""


@dataclass(frozen=True)
class Impairment:
    """One direction's impairment: long-run loss (fraction), mean loss burst (datagrams; 1:
    independent losses), delay and jitter (seconds)."""

    loss: float = 0.0
    burst: float = 1.0
    delay: float = 0.0
    jitter: float = 0.0

    @property
    def active(self) -> bool:
        return self.loss > 0 or self.delay > 0 or self.jitter > 0

    @property
    def bursty(self) -> bool:
        return self.loss > 0 and self.burst > 1

    def __str__(self) -> str:
        if not self.active:
            return NONE
        fields = []
        if self.loss:
            fields.append(f"loss={_number(self.loss * 100)}%")
        if self.bursty:
            fields.append(f"burst={_number(self.burst)}")
        if self.delay:
            fields.append(f"delay={_number(self.delay * 1000)}ms")
        if self.jitter:
            fields.append(f"jitter={_number(self.jitter * 1000)}ms")
        return ",".join(fields)


NO_IMPAIRMENT = Impairment()
_FIELD = re.compile(r"^\s*([a-z]+)\s*=\s*(\S+?)\s*$")
_DURATION = re.compile(r"^(\d+(?:\.\d*)?|\.\d+)(ms|s)$")
_PERCENT = re.compile(r"^(\d+(?:\.\d*)?|\.\d+)%$")
_NUMBER = re.compile(r"^(\d+(?:\.\d*)?|\.\d+)$")
FIELDS = ("loss", "burst", "delay", "jitter")


def parse_impairment(spec: str) -> Impairment:
    """The impairment a spec describes; raises :class:`ImpairmentSpecError` naming the bad
    field (``loss=abc: ...``)."""
    if spec.strip().lower() in ("", NONE):
        return NO_IMPAIRMENT
    values: dict[str, float] = {}
    for part in spec.split(","):
        found = _FIELD.match(part)
        if found is None:
            raise ImpairmentSpecError(f"{part.strip() or '(empty)'}: expected field=value, one "
                                      f"of {', '.join(FIELDS)}")
        name, text = found.groups()
        if name not in FIELDS:
            raise ImpairmentSpecError(f"{name}={text}: unknown field (known: {', '.join(FIELDS)})")
        if name in values:
            raise ImpairmentSpecError(f"{name}={text}: {name} given twice")
        values[name] = _value(name, text)
    loss, burst = values.get("loss", 0.0), values.get("burst", 1.0)
    if "burst" in values and loss == 0:
        raise ImpairmentSpecError(f"burst={_number(burst)}: a loss burst needs loss= above 0%")
    shortest = loss / (1 - loss)
    if burst < shortest:  # the chain could not leave its good state often enough
        raise ImpairmentSpecError(f"burst={_number(burst)}: with loss={_number(loss * 100)}% "
                                  f"a burst lasts at least {shortest:.2f} datagrams")
    return Impairment(loss=loss, burst=burst, delay=values.get("delay", 0.0),
                      jitter=values.get("jitter", 0.0))


def _value(name: str, text: str) -> float:
    given = f"{name}={text}"
    if name == "loss":
        found = _PERCENT.match(text)
        if found is None:
            raise ImpairmentSpecError(f"{given}: give a percentage, e.g. loss=2%")
        pct = float(found.group(1))
        if pct > MAX_LOSS_PCT:
            raise ImpairmentSpecError(f"{given}: at most {_number(MAX_LOSS_PCT)}%")
        return pct / 100
    if name == "burst":
        found = _NUMBER.match(text)
        if found is None or float(found.group(1)) < 1:
            raise ImpairmentSpecError(f"{given}: give a mean burst length in datagrams, >= 1")
        return float(found.group(1))
    found = _DURATION.match(text)
    if found is None:
        raise ImpairmentSpecError(f"{given}: give a duration, e.g. {name}=40ms")
    seconds = float(found.group(1)) / (1000 if found.group(2) == "ms" else 1)
    if seconds > MAX_DELAY_S:
        raise ImpairmentSpecError(f"{given}: at most {_number(MAX_DELAY_S)}s")
    return seconds


def _number(value: float) -> str:
    """Shortest text that reads back as the same float (``2``, ``2.5``, ``0.1``)."""
    text = repr(float(value))
    return text.removesuffix(".0")

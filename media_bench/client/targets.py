"""The servers a benchmark or a swarm can target, by ``--target`` name (light to import: the
CLI reads it for its help; ``janus_target`` runs them)."""

from __future__ import annotations

from typing import Literal

JanusDesign = Literal["streaming", "audiobridge"]
OURS = "ours"
JANUS_DESIGNS: dict[str, JanusDesign] = {"janus": "streaming", "janus-audiobridge": "audiobridge"}
JANUS_LABELS: dict[JanusDesign, str] = {
    "streaming": "Janus 1.1 AudioBridge -> Streaming (rtp_forward), event_loops = 1",
    "audiobridge": "Janus 1.1 AudioBridge, every participant in the bridge, event_loops = 1",
}
TARGETS: dict[str, str] = {
    OURS: "this server (default)",
    **{name: JANUS_LABELS[design] for name, design in JANUS_DESIGNS.items()},
}
"""Every ``--target`` and what it runs."""


def target_help() -> str:
    return "; ".join(f"{name}: {label}" for name, label in TARGETS.items())

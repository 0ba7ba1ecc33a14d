"""Bass diffusion: the share of a population that has adopted a feature ``t`` years after launch."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray


def bass_adopted(t_years: NDArray[np.float64] | float, p: float, q: float) -> NDArray[np.float64]:
    """Cumulative adoption F(t) = (1 - e^{-(p+q)t}) / (1 + (q/p) e^{-(p+q)t}); 0 before launch."""
    t = np.maximum(np.asarray(t_years, dtype=float), 0.0)
    decay = np.exp(-(p + q) * t)
    return np.asarray((1.0 - decay) / (1.0 + (q / p) * decay))


def validate_bass(prefix: str, p: float, q: float) -> None:
    if not 0 < p <= 1:
        raise ValueError(f"{prefix}.bass_p: must be in (0, 1], got {p}")
    if not 0 <= q <= 5:
        raise ValueError(f"{prefix}.bass_q: must be in [0, 5], got {q}")

"""How sure a measured rate is: the Wilson score interval of a share measured on n
searches.

A rate read off 100 CUFS test searches near 75 % is known to about +-8 points (95 %), and
one read off 1,046 FS2K searches near 3 % to about +-1 point; whether a stated rate
"holds" can only be read against that. Wilson's interval, not the normal one, because
the rates checked sit near 0 and 1, where the normal interval leaves [0, 1] and is too
narrow. A rate averaged over drawn galleries (the 1:N tables' thinned searches) varies
no more than one share of n searches, so the interval errs wide there.
"""

from __future__ import annotations

import math

Z95 = 1.959963984540054  # two-sided 95 %


def wilson(rate: float, n: int, z: float = Z95) -> tuple[float, float]:
    """(low, high) of the share `rate` measured on `n` trials."""
    if n < 1:
        raise ValueError("an interval needs at least one trial")
    if not 0.0 <= rate <= 1.0:
        raise ValueError(f"a share is between 0 and 1, not {rate}")
    z2 = z * z
    mid = (rate + z2 / (2 * n)) / (1 + z2 / n)
    half = z / (1 + z2 / n) * math.sqrt(rate * (1 - rate) / n + z2 / (4 * n * n))
    return max(0.0, mid - half), min(1.0, mid + half)


def agreement(stated: float, measured: float, n: int, points: float = 0.02) -> str:
    """How a stated rate compares with one measured on n searches: 'within' `points`,
    'in interval' (further off, but inside the measured rate's 95 % interval: the
    searches cannot tell them apart), or 'outside'."""
    if abs(stated - measured) <= points + 1e-9:
        return "within"
    low, high = wilson(measured, n)
    return "in interval" if low <= stated <= high else "outside"

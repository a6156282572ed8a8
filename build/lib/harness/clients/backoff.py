"""socket.io-client's reconnection delay, step for step (its `contrib/backo2`).

python-socketio waits `min(delay * 2^n, max) + factor * (2r - 1)` seconds: the jitter is *added* in
seconds, after the cap. socket.io-client multiplies instead: `ms = min * 2^attempts`, then moves it by
`floor(r * factor * ms)` up or down (chosen by the same random draw), then caps it at `max` and truncates to
whole milliseconds. With the defaults (1 s, 5 s, 0.5) the browser waits 0.5-1.5 s before its first retry,
python-socketio 0.5-1.5 s too but 4.5-5.5 s on the fifth; the harness needs the browser's numbers.
"""

from __future__ import annotations

import math
import random


class Backoff:
    """The delays a socket.io-client Manager waits between reconnection attempts.

    `attempts` grows with each `duration()` and is reset when a connection opens or closes, as the
    Manager does. Defaults follow backo2: a zero minimum means 100 ms, a zero maximum 10 s, and a jitter
    outside (0, 1] means none.
    """

    def __init__(self, min_s: float, max_s: float, jitter: float, rng: random.Random) -> None:
        self.min_ms = min_s * 1000 or 100
        self.max_ms = max_s * 1000 or 10000
        self.jitter = jitter if 0 < jitter <= 1 else 0.0
        self.rng = rng
        self.attempts = 0

    def duration(self) -> float:
        """Seconds to wait before the next attempt (and count the attempt)."""
        # The exponent is bounded so that an endless outage stays a float (JS reaches Infinity, capped
        # by `max` all the same).
        ms = self.min_ms * 2.0 ** min(self.attempts, 1000)
        self.attempts += 1
        if self.jitter:
            rand = self.rng.random()
            deviation = math.floor(rand * self.jitter * ms)
            ms = ms - deviation if math.floor(rand * 10) & 1 == 0 else ms + deviation
        return int(min(ms, self.max_ms)) / 1000

    def reset(self) -> None:
        self.attempts = 0

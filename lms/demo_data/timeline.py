"""What happens at a given moment of the demo's two years, played in time order.

The sessions are played one by one; everything else that has a time of its own (an evaluation
given three days after a session, the scheduler's daily sweeps, an invoice run, a payment) waits
here and happens, in order, before the first session that starts after it. Nothing later than the
demo's `now` happens at all: an evaluation due tomorrow is simply still to be given.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable
from datetime import datetime

Action = Callable[[datetime], None]


class Timeline:
    def __init__(self, now: datetime) -> None:
        self.now = now
        self._due: list[tuple[datetime, int, Action]] = []
        self._order = itertools.count()

    def at(self, moment: datetime, action: Action) -> None:
        """Do `action(moment)` when the demo reaches `moment`; never, if that is after now."""
        if moment <= self.now:
            heapq.heappush(self._due, (moment, next(self._order), action))

    def run_until(self, moment: datetime) -> None:
        """Everything due up to `moment` (and not after now), earliest first."""
        moment = min(moment, self.now)
        while self._due and self._due[0][0] <= moment:
            at, _, action = heapq.heappop(self._due)
            action(at)

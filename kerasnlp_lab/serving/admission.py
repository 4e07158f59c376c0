"""Admission of predict requests per model: a bounded number run at once, a bounded queue waits.

A request enters (runs at once, or waits first-in first-out for a running one to leave) and leaves
when its work is done, even if its client was already answered with DEADLINE_EXCEEDED: a slot stands
for work in progress, so the running count bounds threads and memory. With the queue full the
request is refused with RESOURCE_EXHAUSTED (HTTP 429); a wait longer than the request's time limit
ends with DEADLINE_EXCEEDED. Threads wait with `enter`, asyncio tasks with `enter_async`.
"""

import asyncio
import collections
import dataclasses
import threading
from collections.abc import Callable

from kerasnlp_lab.serving.errors import ServingError


@dataclasses.dataclass(eq=False)
class _Waiter:
    wake: Callable[[], None]
    granted: bool = False


@dataclasses.dataclass
class _Lane:
    running: int = 0
    waiting: collections.deque = dataclasses.field(default_factory=collections.deque)


class Admission:
    """Args:
    max_running: requests of one model running at once.
    max_queued: requests of one model waiting for a running slot.
    """

    def __init__(self, max_running: int, max_queued: int):
        self.max_running = max_running
        self.max_queued = max_queued
        self._lock = threading.Lock()
        self._lanes: dict[str, _Lane] = {}

    def enter(self, model: str, timeout: float) -> None:
        """Blocks until the request may run (at most `timeout` seconds)."""
        event = threading.Event()
        waiter = self._join(model, event.set)
        if waiter is not None and not event.wait(timeout):
            self._give_up(model, waiter, timeout)

    async def enter_async(self, model: str, timeout: float) -> None:
        """Waits (without a thread) until the request may run (at most `timeout` seconds)."""
        loop = asyncio.get_running_loop()
        granted = loop.create_future()

        def wake():
            loop.call_soon_threadsafe(lambda: granted.done() or granted.set_result(None))

        waiter = self._join(model, wake)
        if waiter is None:
            return
        try:
            await asyncio.wait_for(granted, timeout)
        except asyncio.TimeoutError:
            self._give_up(model, waiter, timeout)  # returns if the slot was granted meanwhile
        except asyncio.CancelledError:
            if not self._withdraw(model, waiter):
                self.leave(model)
            raise

    def leave(self, model: str) -> None:
        """Ends a running request: hands its slot to the oldest waiting request."""
        with self._lock:
            lane = self._lanes[model]
            if lane.waiting:
                waiter = lane.waiting.popleft()
                waiter.granted = True
                waiter.wake()
                return
            lane.running -= 1
            if lane.running == 0:
                del self._lanes[model]

    def counts(self, model: str) -> tuple[int, int]:
        """(running, waiting) requests of a model."""
        with self._lock:
            lane = self._lanes.get(model)
            return (lane.running, len(lane.waiting)) if lane else (0, 0)

    def snapshot(self) -> dict[str, tuple[int, int]]:
        """{model: (running, waiting)} of the models with requests now."""
        with self._lock:
            return {model: (lane.running, len(lane.waiting)) for model, lane in self._lanes.items()}

    def _join(self, model: str, wake: Callable[[], None]) -> _Waiter | None:
        """Takes a running slot (returns None) or a place in the queue (returns the waiter)."""
        with self._lock:
            lane = self._lanes.setdefault(model, _Lane())
            if lane.running < self.max_running and not lane.waiting:
                lane.running += 1
                return None
            if len(lane.waiting) >= self.max_queued:
                raise ServingError(
                    "RESOURCE_EXHAUSTED",
                    f"Model {model} has {lane.running} requests running and {len(lane.waiting)} "
                    f"waiting, its limits (max_concurrent_requests_per_model="
                    f"{self.max_running}, max_queued_requests_per_model={self.max_queued}); "
                    "retry later",
                )
            waiter = _Waiter(wake)
            lane.waiting.append(waiter)
            return waiter

    def _withdraw(self, model: str, waiter: _Waiter) -> bool:
        """Removes a waiter that gave up; False when it had been granted a slot meanwhile."""
        with self._lock:
            if waiter.granted:
                return False
            self._lanes[model].waiting.remove(waiter)
            return True

    def _give_up(self, model: str, waiter: _Waiter, timeout: float) -> None:
        if self._withdraw(model, waiter):
            self._raise_timeout(model, timeout)

    @staticmethod
    def _raise_timeout(model: str, timeout: float) -> None:
        raise ServingError(
            "DEADLINE_EXCEEDED",
            f"Timed out waiting for a running slot of model {model} "
            f"(the request's time limit passed in the queue)",
        )

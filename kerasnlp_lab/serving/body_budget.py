"""A byte budget for the REST request bodies the server holds at once (read, not yet decoded).

Bodies reserve their bytes as they arrive and give them back once decoded; a body that would go over
the budget is refused at once (429 RESOURCE_EXHAUSTED) instead of waiting, so requests never wait on
each other's partly read bodies.
"""

import threading

from kerasnlp_lab.serving.errors import ServingError


class BodyBudget:
    """Args:
    limit: bytes of request bodies held at once (max_buffered_request_bytes).
    """

    def __init__(self, limit: int):
        self.limit = limit
        self._held = 0
        self._lock = threading.Lock()

    @property
    def held(self) -> int:
        with self._lock:
            return self._held

    def reserve(self, count: int) -> None:
        """Takes `count` bytes of the budget, or raises RESOURCE_EXHAUSTED."""
        with self._lock:
            if self._held + count > self.limit:
                raise ServingError(
                    "RESOURCE_EXHAUSTED",
                    f"The server holds {self._held} bytes of request bodies; {count} more would "
                    f"pass its limit (max_buffered_request_bytes={self.limit}); retry later",
                )
            self._held += count

    def release(self, count: int) -> None:
        with self._lock:
            self._held -= count

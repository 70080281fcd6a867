"""Failed-authentication throttle per client address (pure: the clock is passed in).

Theory of operation: every request that fails authentication is recorded
against its client address in a fixed window. An address with `limit`
failures inside the current window is blocked until the window ends: its
requests are answered 429 without their token being looked at, so a client
guessing tokens learns nothing more for the rest of the window. The tokens are
random and long (a guess cannot succeed); the throttle keeps the log readable
and turns a guessing run into one warning per window.

Memory is bounded: at most `max_addresses` addresses are tracked; when full,
the address whose window started first is forgotten (a blocked address is
forgotten only after every unblocked one).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class _Window:
    started: float
    failures: int
    warned: bool = False


class FailureThrottle:
    def __init__(self, *, limit: int = 20, window: float = 60.0, max_addresses: int = 10_000) -> None:
        if limit < 1 or window <= 0 or max_addresses < 1:
            raise ValueError("limit, window and max_addresses must be positive")
        self.limit = limit
        self.window = window
        self.max_addresses = max_addresses
        self._windows: dict[str, _Window] = {}

    def retry_after(self, address: str, now: float) -> float | None:
        """Seconds until `address` may try again, or None when it is not blocked."""
        found = self._windows.get(address)
        if found is None:
            return None
        left = found.started + self.window - now
        if left <= 0:
            del self._windows[address]
            return None
        return left if found.failures >= self.limit else None

    def record_failure(self, address: str, now: float) -> bool:
        """Count one failure; True exactly once per window, when `address` becomes blocked."""
        found = self._windows.get(address)
        if found is None or now >= found.started + self.window:
            if found is None and len(self._windows) >= self.max_addresses:
                self._evict()
            found = self._windows[address] = _Window(now, 0)
        found.failures += 1
        if found.failures >= self.limit and not found.warned:
            found.warned = True
            return True
        return False

    def _evict(self) -> None:
        unblocked = [a for a, w in self._windows.items() if w.failures < self.limit]
        pool = unblocked or list(self._windows)
        del self._windows[min(pool, key=lambda a: self._windows[a].started)]

    def __len__(self) -> int:
        return len(self._windows)

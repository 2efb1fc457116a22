"""Process-wide sandbox runtime: its clock, delays, faults and call counter.

Everything here is shared by all accounts and regions and is reset with moto's reset, except the
settings given on the command line, which a reset restores.
"""

from __future__ import annotations

import datetime as dt
import random
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

# Seconds of sandbox time each transition takes at --speed 1; AWS takes minutes, the demo wants a
# few seconds so that the portal's progress display has something to show.
DEFAULT_DELAYS: dict[str, float] = {
    "record_created": 1.0,  # CREATED before IN_PROGRESS
    "notebook_pending": 6.0,  # Pending -> InService
    "notebook_stopping": 4.0,  # Stopping -> Stopped
    "notebook_deleting": 4.0,  # Deleting -> gone
    "notebook_updating": 2.0,  # Updating -> Stopped
}


class Clock:
    """Wall-clock time plus an offset that tests move forward instead of sleeping."""

    def __init__(self) -> None:
        self._offset = 0.0
        self._lock = threading.Lock()

    def now(self) -> dt.datetime:
        return dt.datetime.fromtimestamp(time.time() + self._offset, tz=dt.UTC)

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._offset += seconds

    def set(self, when: dt.datetime) -> None:
        with self._lock:
            self._offset = when.timestamp() - time.time()

    @property
    def offset(self) -> float:
        return self._offset

    def reset(self) -> None:
        self._offset = 0.0


@dataclass
class Settings:
    speed: float = 1.0
    delays: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_DELAYS))
    # How many (period, group) entries one GetCostAndUsage page carries before NextPageToken.
    ce_page_size: int = 500

    def delay(self, name: str) -> dt.timedelta:
        return dt.timedelta(seconds=self.delays[name] / self.speed)

    def as_dict(self) -> dict[str, Any]:
        return {"speed": self.speed, "delays": dict(self.delays), "ce_page_size": self.ce_page_size}


@dataclass
class ThrottleRule:
    rate: float  # share of matching calls answered with ThrottlingException
    operations: frozenset[str]  # "service:Operation"; empty means every call
    remaining: int | None  # how many more calls to throttle; None means until cleared

    def as_dict(self) -> dict[str, Any]:
        return {
            "rate": self.rate,
            "operations": sorted(self.operations),
            "remaining": self.remaining,
        }


@dataclass
class LatencyRule:
    ms: int
    operations: frozenset[str]

    def as_dict(self) -> dict[str, Any]:
        return {"ms": self.ms, "operations": sorted(self.operations)}


class Faults:
    """Faults the control endpoint switches on for tests and the demo."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._random = random.Random(1234)
        self.throttles: list[ThrottleRule] = []
        self.latencies: list[LatencyRule] = []
        self.failing_provisions: list[str] = []

    def reset(self) -> None:
        with self._lock:
            self._random = random.Random(1234)
            self.throttles = []
            self.latencies = []
            self.failing_provisions = []

    def should_throttle(self, operation: str) -> bool:
        with self._lock:
            for rule in self.throttles:
                if rule.operations and operation not in rule.operations:
                    continue
                if rule.remaining is not None and rule.remaining <= 0:
                    continue
                if rule.rate >= 1.0 or self._random.random() < rule.rate:
                    if rule.remaining is not None:
                        rule.remaining -= 1
                    return True
            return False

    def latency_seconds(self, operation: str) -> float:
        total = 0
        for rule in self.latencies:
            if not rule.operations or operation in rule.operations:
                total += rule.ms
        return total / 1000

    def take_failing_provision(self) -> str | None:
        with self._lock:
            return self.failing_provisions.pop(0) if self.failing_provisions else None

    def as_dict(self) -> dict[str, Any]:
        return {
            "throttle": [rule.as_dict() for rule in self.throttles],
            "latency": [rule.as_dict() for rule in self.latencies],
            "fail_next_provision": list(self.failing_provisions),
        }


class CallCounter:
    """Counts the AWS calls that reached the sandbox, keyed "service:Operation"."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.calls: Counter[str] = Counter()
        self.throttled: Counter[str] = Counter()

    def record(self, operation: str, *, throttled: bool = False) -> None:
        with self._lock:
            self.calls[operation] += 1
            if throttled:
                self.throttled[operation] += 1

    def reset(self) -> None:
        with self._lock:
            self.calls.clear()
            self.throttled.clear()


class Runtime:
    def __init__(self, settings: Settings | None = None) -> None:
        self.initial_settings = settings or Settings()
        self.settings = Settings(
            speed=self.initial_settings.speed,
            delays=dict(self.initial_settings.delays),
            ce_page_size=self.initial_settings.ce_page_size,
        )
        self.clock = Clock()
        self.faults = Faults()
        self.calls = CallCounter()
        # One lock around the sandbox's own state: moto's server is threaded and the models assume
        # one writer.
        self.lock = threading.RLock()

    def reset(self) -> None:
        self.settings = Settings(
            speed=self.initial_settings.speed,
            delays=dict(self.initial_settings.delays),
            ce_page_size=self.initial_settings.ce_page_size,
        )
        self.clock.reset()
        self.faults.reset()
        self.calls.reset()


runtime = Runtime()

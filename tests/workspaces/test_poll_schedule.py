"""The record poll schedule keeps a real launch within the AWS-call budget."""

from __future__ import annotations

from workspaces.provisioning import poll_delay


def reads_until(seconds: float) -> int:
    """How many describe_record calls happen before a launch taking ``seconds`` is seen done."""
    waited, reads = 0.0, 0
    while waited < seconds:
        waited += poll_delay(reads)
        reads += 1
    return reads


def test_a_five_minute_launch_costs_at_most_eight_calls_with_the_launch_itself() -> None:
    assert 1 + reads_until(300) <= 8


def test_a_quick_launch_is_seen_within_two_seconds() -> None:
    assert reads_until(1.5) == 1
    assert poll_delay(0) == 2


def test_the_delay_stops_growing() -> None:
    assert poll_delay(50) == poll_delay(6) == 120

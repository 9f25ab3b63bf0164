"""The deadline queue: bursts are absorbed, standing queues shed new requests; checkout goes first.

The queue's clock is a fake one the test moves; only the waiting itself is
real (threads blocked on the queue), and each wait ends on a condition.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from core.db.backends.postgresql.admission import Admission, Admitted, Outcome
from core.db.backends.postgresql.priority import Priority

TARGET, INTERVAL = 0.1, 1.0


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Waiter(threading.Thread):
    """A request waiting for a permit in a thread; `outcome` once it is decided."""

    def __init__(self, queue: Admission, priority: Priority, timeout: float = 30.0) -> None:
        super().__init__(daemon=True)
        self.queue, self.priority, self.timeout = queue, priority, timeout
        self.outcome: Outcome | Admitted | None = None

    def run(self) -> None:
        self.outcome = self.queue.acquire(self.priority, self.timeout)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def queue(clock: Clock) -> Iterator[Admission]:
    """One permit, already taken: everyone else waits."""
    admission = Admission(1, max_waiting=8, target=TARGET, interval=INTERVAL, clock=clock)
    assert admission.acquire(Priority.NEW, 1.0) == Admitted(0.0, at_limit=True)
    yield admission
    admission.fail_all()


def enqueue(queue: Admission, priority: Priority, timeout: float = 30.0) -> Waiter:
    before = queue.waiting
    waiter = Waiter(queue, priority, timeout)
    waiter.start()
    while queue.waiting == before and waiter.is_alive():
        threading.Event().wait(0.001)
    return waiter


def finish(waiter: Waiter) -> Outcome | Admitted | None:
    waiter.join(5)
    return waiter.outcome


def test_a_momentary_burst_is_absorbed(queue: Admission, clock: Clock) -> None:
    burst = [enqueue(queue, Priority.NEW) for _ in range(3)]
    for _ in burst:
        clock.now += 0.05  # each served within the target
        queue.release()

    outcomes = [finish(waiter) for waiter in burst]

    assert ([type(o) for o in outcomes], queue.standing()) == ([Admitted] * 3, False)


def test_a_standing_queue_sheds_new_requests_past_the_target(
    queue: Admission, clock: Clock
) -> None:
    old = enqueue(queue, Priority.NEW)
    clock.now += TARGET + INTERVAL + 0.1  # the oldest has waited past the target for an interval

    late = queue.acquire(Priority.NEW, timeout=30.0)  # waits at most the target, really

    assert (queue.standing(), finish(old), late) == (True, Outcome.SHED, Outcome.SHED)


def test_a_request_already_served_once_is_not_shed(queue: Admission, clock: Clock) -> None:
    continuing = enqueue(queue, Priority.CONTINUING)
    clock.now += TARGET + INTERVAL + 0.1
    queue.acquire(Priority.NEW, timeout=30.0)  # shed: the queue is standing

    queue.release()

    assert isinstance(finish(continuing), Admitted)


def test_checkout_goes_before_pages_already_started_and_those_before_new_ones(
    queue: Admission,
) -> None:
    order: list[Priority] = []
    waiters = [enqueue(queue, p) for p in (Priority.NEW, Priority.CONTINUING, Priority.URGENT)]
    for _ in waiters:
        queue.release()
        served = next(w for w in waiters if w.priority not in order and finish_soon(w))
        order.append(served.priority)

    assert order == [Priority.URGENT, Priority.CONTINUING, Priority.NEW]


def finish_soon(waiter: Waiter) -> bool:
    waiter.join(0.5)
    return not waiter.is_alive()


def test_a_full_queue_turns_browsing_away_but_not_checkout(clock: Clock) -> None:
    queue = Admission(1, max_waiting=1, target=TARGET, interval=INTERVAL, clock=clock)
    queue.acquire(Priority.NEW, 1.0)
    waiting = enqueue(queue, Priority.NEW)

    browsing = queue.acquire(Priority.NEW, 1.0)
    paying = enqueue(queue, Priority.URGENT)
    queue.release()

    assert (browsing, isinstance(finish(paying), Admitted)) == (Outcome.REJECTED, True)
    queue.fail_all()
    finish(waiting)


def test_a_higher_limit_lets_waiters_in_at_once(queue: Admission) -> None:
    waiter = enqueue(queue, Priority.NEW)

    queue.set_limit(2)

    assert isinstance(finish(waiter), Admitted)

"""deploy/balance.py: the table of workers' loads they share, and when an overloaded worker
lets a connection go. tests/test_worker_balance.py runs it in a real gunicorn."""

import os

import pytest

from deploy import balance
from deploy.balance import LoadTable, Shedder


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


def test_each_claim_takes_a_free_slot_and_a_stale_one_is_free_again(clock):
    table = LoadTable(slots=3, clock=clock)

    taken = [table.claim() for _ in range(3)]
    assert sorted(taken) == [0, 1, 2]
    assert table.claim() == -1  # every slot is some live worker's

    clock.now += balance.STALE_S - 1
    table.publish(0, 5)
    table.publish(2, 5)
    clock.now += 1  # slot 1's worker wrote nothing for STALE_S: it is gone
    assert table.claim() == 1


def test_a_new_table_has_every_slot_free_even_just_after_boot(clock):
    clock.now = 1.0  # the monotonic clock starts near 0 when the machine does
    table = LoadTable(slots=2, clock=clock)

    assert table.mean_load() == 0
    assert [table.claim(), table.claim()] == [0, 1]


def test_a_released_slot_is_free_at_once_and_no_longer_counts(clock):
    table = LoadTable(slots=2, clock=clock)
    one, two = table.claim(), table.claim()
    table.publish(one, 10)
    table.publish(two, 30)
    assert table.mean_load() == 20

    table.release(two)

    assert table.mean_load() == 10
    assert table.claim() == two


def test_the_mean_is_over_the_workers_alive_now(clock):
    table = LoadTable(slots=4, clock=clock)
    for slot, load in ((0, 40), (1, 20)):
        table.claim()
        table.publish(slot, load)
    clock.now += balance.STALE_S  # both go quiet; a third worker starts
    table.publish(table.claim(), 6)

    assert table.mean_load() == 6


def shedder_at(load: int, others: list[int], clock: Clock) -> Shedder:
    table = LoadTable(slots=8, clock=clock)
    for other in others:
        table.publish(table.claim(), other)
    shedder = Shedder(table, table.claim())
    shedder.update(load)
    return shedder


def test_a_worker_well_above_the_mean_lets_one_connection_go_per_interval(clock):
    shedder = shedder_at(100, [60, 70], clock)  # mean 76.7: 23 above it

    assert shedder.take()
    assert not shedder.take()  # one answer closes, not every one

    clock.now += balance.CHECK_INTERVAL_S / 2
    shedder.update(100)
    assert not shedder.take()
    clock.now += balance.CHECK_INTERVAL_S
    shedder.update(100)
    assert shedder.take()
    assert shedder.shed == 2


@pytest.mark.parametrize(
    ("load", "others"),
    [
        (84, [76, 80]),  # 4 above a mean of 80: within 10%
        (8, [2, 3]),  # 3.7 above the mean: a handful of requests is not a queue
        (50, []),  # the only worker
        (10, [10, 10]),
    ],
)
def test_a_worker_near_the_mean_keeps_its_connections(load, others, clock):
    shedder = shedder_at(load, others, clock)

    assert not shedder.take()


def test_without_a_slot_nothing_is_published_or_shed(clock):
    table = LoadTable(slots=1, clock=clock)
    table.publish(table.claim(), 0)
    shedder = Shedder(table, -1)

    shedder.update(1000)

    assert not shedder.take()
    assert table.mean_load() == 0
    shedder.release()  # nothing to release


def test_workers_forked_after_the_table_was_made_share_it():
    table = LoadTable(slots=4)
    parent_slot, child_slot = table.claim(), table.claim()
    table.publish(parent_slot, 10)

    pid = os.fork()
    if pid == 0:  # the child, as a gunicorn worker is: it writes its own slot
        table.publish(child_slot, 50)
        os._exit(0)
    _, status = os.waitpid(pid, 0)

    assert os.waitstatus_to_exitcode(status) == 0
    assert table.mean_load() == 30

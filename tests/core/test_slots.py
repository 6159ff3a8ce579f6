"""Slots and ports: unique among running tasks, a just-freed slot handed out last."""

from __future__ import annotations

import pytest

from coordinator.core.slots import pick_slot, port_for, ports_problem


def test_the_lowest_free_slot_is_taken() -> None:
    assert pick_slot(3, set()) == 0
    assert pick_slot(3, {0}) == 1
    assert pick_slot(3, {0, 2}) == 1


def test_a_slot_still_cooling_goes_last_and_the_coolest_first() -> None:
    assert pick_slot(3, {1}, cooling=[0]) == 2
    assert pick_slot(3, {1}, cooling=[2, 0]) == 2  # both cooling: the one freed first
    assert pick_slot(2, set(), cooling=[1, 0]) == 1


def test_no_free_slot_is_a_bug_in_the_caller() -> None:
    with pytest.raises(ValueError, match="all 2 slots"):
        pick_slot(2, {0, 1})


def test_ports_come_from_the_slot_and_must_fit() -> None:
    assert [port_for(s, 20000, 10) for s in range(3)] == [20000, 20010, 20020]
    assert ports_problem(20000, 10, 3) is None
    assert ports_problem(65530, 1, 6) is None  # 65530..65535
    problem = ports_problem(65530, 1, 7)
    assert problem is not None and "65536" in problem

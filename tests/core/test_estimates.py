"""Learned estimates: the spec's, the task's own past attempts, its agent type's, a default."""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from coordinator.core.config import AgentConfig, Config
from coordinator.core.estimates import (
    AGENT_RECENT,
    DEFAULT_ESTIMATE,
    OWN_RECENT,
    DurationHistory,
    Estimate,
    EstimateSource,
    PastAttempt,
    estimate_tasks,
    learn_estimate,
)
from coordinator.core.footprint import RepoPaths
from coordinator.core.models import TaskSpec
from coordinator.core.planner import build_plan

SPEC, HISTORY, AGENT, DEFAULT = (
    EstimateSource.SPEC,
    EstimateSource.HISTORY,
    EstimateSource.AGENT_MEDIAN,
    EstimateSource.DEFAULT,
)


def spec(
    task_id: str, estimate: float | None = None, agent: str = "coder", digest: str = "d1"
) -> TaskSpec:
    return TaskSpec(
        id=task_id,
        agent=agent,
        body="",
        source=f"specs/{task_id}.md",
        order=0,
        files=(f"{task_id}.txt",),
        estimate=estimate,
        digest=digest,
    )


def past(task_id: str, seconds: float, agent: str = "coder", digest: str = "d1") -> PastAttempt:
    return PastAttempt(task_id, agent, digest, seconds)


def test_the_rule_prefers_own_attempts_then_the_agent_type_then_the_default() -> None:
    assert learn_estimate([30.0, 10.0, 20.0], [99.0], 60.0) == Estimate(20.0, HISTORY)
    assert learn_estimate([], [5.0, 7.0, 100.0], 60.0) == Estimate(7.0, AGENT)
    assert learn_estimate([], [], 42.0) == Estimate(42.0, DEFAULT)


def test_a_spec_estimate_wins_over_any_history() -> None:
    history = DurationHistory.of([past("a", 500.0)])
    assert estimate_tasks([spec("a", 5.0)], history) == {"a": Estimate(5.0, SPEC)}


def test_own_attempts_count_only_with_the_same_spec_digest() -> None:
    history = DurationHistory.of([past("a", 100.0, digest="old"), past("b", 30.0)])
    found = estimate_tasks([spec("a", digest="new"), spec("b")], history)
    # "a" changed its spec: its old attempt says only how slow its agent type is.
    assert found["a"] == Estimate(65.0, AGENT)  # median of the type's 100 and 30
    assert found["b"] == Estimate(30.0, HISTORY)


def test_agent_median_is_per_agent_type() -> None:
    history = DurationHistory.of([past("x", 10.0, agent="fast"), past("y", 900.0, agent="slow")])
    found = estimate_tasks([spec("a", agent="fast"), spec("b", agent="slow")], history)
    assert found == {"a": Estimate(10.0, AGENT), "b": Estimate(900.0, AGENT)}


def test_defaults_are_the_median_of_the_rest_or_sixty_seconds() -> None:
    found = estimate_tasks([spec("a", 10.0), spec("b", 30.0), spec("c", 50.0), spec("d")])
    assert found["d"] == Estimate(30.0, DEFAULT)
    nothing = estimate_tasks([spec("a"), spec("b")])
    assert nothing == {"a": Estimate(DEFAULT_ESTIMATE, DEFAULT), "b": Estimate(60.0, DEFAULT)}
    learned = estimate_tasks(
        [spec("a"), spec("b", agent="other")], DurationHistory.of([past("a", 8.0)])
    )
    assert learned["b"] == Estimate(8.0, DEFAULT)


def test_only_recent_attempts_count_and_bad_durations_are_dropped() -> None:
    newest_first = [past("a", 10.0)] * OWN_RECENT + [past("a", 1000.0)] * 10
    assert estimate_tasks([spec("a")], DurationHistory.of(newest_first))["a"].seconds == 10.0
    agents = [past(f"t{i}", 1.0) for i in range(AGENT_RECENT)] + [past("z", 500.0)] * 100
    assert DurationHistory.of(agents).by_agent["coder"] == (1.0,) * AGENT_RECENT
    broken = DurationHistory.of([past("a", -5.0), past("a", math.nan), past("a", math.inf)])
    assert broken.own == {} and broken.by_agent == {}


@given(st.lists(st.floats(min_value=0, max_value=1e6), min_size=1, max_size=20))
def test_a_learned_estimate_lies_within_the_durations_seen(durations: list[float]) -> None:
    history = DurationHistory.of([past("a", d) for d in durations])
    found = estimate_tasks([spec("a")], history)["a"]
    recent = durations[:OWN_RECENT]
    assert found.source == HISTORY
    assert min(recent) <= found.seconds <= max(recent)


def test_the_plan_uses_learned_estimates_and_says_where_they_came_from() -> None:
    config = Config(agents={"coder": AgentConfig(command=["true"])})
    repo = RepoPaths.from_files(["a.txt", "b.txt", "c.txt"])
    specs = [spec("a", 40.0), spec("b"), spec("c", agent="coder", digest="changed")]
    history = DurationHistory.of([past("b", 100.0), past("c", 300.0, digest="old")])
    plan = build_plan(specs, config, repo, history=history)
    assert plan.weights == {"a": 40.0, "b": 100.0, "c": 200.0}
    assert plan.estimate_sources == {"a": SPEC, "b": HISTORY, "c": AGENT}
    assert plan.critical_length == 200.0
    plain = build_plan(specs, config, repo)
    assert plain.estimate_sources == {"a": SPEC, "b": DEFAULT, "c": DEFAULT}
    assert plain.weights == {"a": 40.0, "b": 40.0, "c": 40.0}

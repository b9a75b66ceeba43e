"""The range plan: first plan from quantiles, stable re-plans, splits and merges, always a tiling."""

from __future__ import annotations

import math
import random
from bisect import bisect_left

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from assets.keys import key_to_range
from assets.plan import Change, KeySketch, plan_ranges, sketch_fractions
from assets.ranges import KeyRange, check_tiling, index_of

pytestmark = pytest.mark.unit


def sketch_of(ids: list[str], target: int = 10) -> KeySketch:
    """What Data Cloud's percentile_disc would answer for ``ids``."""
    ordered = sorted(ids)
    n = len(ordered)
    if n == 0:
        return KeySketch(0, ())
    quantiles = tuple(ordered[max(0, math.ceil(f * n) - 1)] for f in sketch_fractions(target))
    return KeySketch(n, quantiles)


def exact_rows(ids: list[str], ranges: list[KeyRange]) -> list[int]:
    rows = [0] * len(ranges)
    for external_id in ids:
        rows[index_of(external_id, ranges)] += 1
    return rows


def opp_ids(numbers: range | list[int]) -> list[str]:
    return [f"OPP-{n:07d}" for n in numbers]


def replan(ids: list[str], previous: list[KeyRange], target: int = 10):  # type: ignore[no-untyped-def]
    return plan_ranges(
        sketch_of(ids, target),
        target_partitions=target,
        previous=previous,
        previous_rows=exact_rows(ids, previous),
    )


IDS = opp_ids(range(0, 20_000, 2))  # 10,000 ids


def test_first_plan_has_balanced_short_readable_keys() -> None:
    plan = plan_ranges(sketch_of(IDS))
    check_tiling(plan.key_ranges)
    assert len(plan.ranges) == 10
    assert plan.keys == sorted(plan.keys)
    assert plan.keys[0] == "!OPP-0002"
    assert plan.keys[-1] == "OPP-0018!"
    assert all(len(k) <= 20 for k in plan.keys)
    for rows in exact_rows(IDS, plan.key_ranges):
        assert 800 <= rows <= 1200
    assert {r.change for r in plan.ranges} == {Change.NEW}
    assert [key_to_range(k) for k in plan.keys] == plan.key_ranges


def test_same_data_gives_identical_keys() -> None:
    first = plan_ranges(sketch_of(IDS))
    assert plan_ranges(sketch_of(IDS)).keys == first.keys  # deterministic
    again = replan(IDS, first.key_ranges)
    assert again.keys == first.keys
    assert {r.change for r in again.ranges} == {Change.KEPT}


def test_small_growth_keeps_keys() -> None:
    first = plan_ranges(sketch_of(IDS))
    grown = IDS + opp_ids(range(1, 20_000, 40)) + opp_ids(range(20_000, 20_400, 2))
    assert replan(grown, first.key_ranges).keys == first.keys


def test_a_range_that_outgrows_the_bound_is_split_and_the_others_keep_their_keys() -> None:
    first = plan_ranges(sketch_of(IDS))
    target = first.ranges[3].key_range
    burst = [f"{target.lo}{n:05d}" for n in range(3_000)]  # all inside range 3
    assert all(target.contains(i) for i in burst)
    second = replan(IDS + burst, first.key_ranges)
    check_tiling(second.key_ranges)
    kept = [r.key for r in second.ranges if r.change is Change.KEPT]
    assert kept == first.keys[:3] + first.keys[4:]
    pieces = [r for r in second.ranges if r.change is Change.SPLIT]
    assert len(pieces) >= 2
    assert pieces[0].key_range.lo == target.lo
    assert pieces[-1].key_range.hi == target.hi
    # and it is quiet the day after
    assert replan(IDS + burst, second.key_ranges).keys == second.keys


def test_a_range_that_shrinks_below_the_bound_is_merged_with_its_smaller_neighbour() -> None:
    first = plan_ranges(sketch_of(IDS))
    shrinking = first.ranges[5].key_range
    remaining = [i for i in IDS if not shrinking.contains(i)] + [shrinking.lo or ""]
    second = replan(remaining, first.key_ranges)
    check_tiling(second.key_ranges)
    assert len(second.ranges) == 9
    merged = [r for r in second.ranges if r.change is Change.MERGED]
    assert len(merged) == 1
    assert merged[0].key_range.lo in (first.ranges[4].key_range.lo, shrinking.lo)
    assert sum(r.change is Change.KEPT for r in second.ranges) == 8
    assert replan(remaining, second.key_ranges).keys == second.keys


def test_merge_into_a_big_neighbour_is_rebalanced() -> None:
    first = plan_ranges(sketch_of(IDS))
    r4, r5 = first.ranges[4].key_range, first.ranges[5].key_range
    heavy = [f"{r4.lo}x{n:05d}" for n in range(1_800)]  # r4 just below the split bound
    assert all(r4.contains(i) for i in heavy)
    data = [i for i in IDS if not r5.contains(i)] + heavy
    second = replan(data, first.key_ranges)
    check_tiling(second.key_ranges)
    sizes = exact_rows(data, second.key_ranges)
    ideal = len(data) / 10
    assert all(size <= 2 * ideal for size in sizes)


def test_empty_source_keeps_the_previous_plan() -> None:
    first = plan_ranges(sketch_of(IDS))
    again = plan_ranges(KeySketch(0, ()), previous=first.key_ranges, previous_rows=[0] * 10)
    assert again.keys == first.keys


def test_no_data_or_too_few_ids_give_one_range() -> None:
    assert plan_ranges(KeySketch(0, ())).keys == ["!"]
    assert plan_ranges(sketch_of(["only"])).keys == ["!"]


def test_target_partitions_is_honoured() -> None:
    assert len(plan_ranges(sketch_of(IDS, 4), target_partitions=4).ranges) == 4


def test_long_common_prefixes_do_not_make_unusable_keys() -> None:
    ids = ["P" * 150 + f"{n:05d}" for n in range(500)]
    plan = plan_ranges(sketch_of(ids))
    assert plan.keys == ["!"]  # every boundary would be too long for a key


def test_bad_inputs_are_refused() -> None:
    with pytest.raises(ValueError):
        KeySketch(10, ("b", "a"))
    with pytest.raises(ValueError):
        plan_ranges(sketch_of(IDS), target_partitions=0)
    first = plan_ranges(sketch_of(IDS))
    with pytest.raises(ValueError):
        plan_ranges(sketch_of(IDS), previous=first.key_ranges, previous_rows=[1, 2])


def test_added_and_removed_keys() -> None:
    first = plan_ranges(sketch_of(IDS))
    second = plan_ranges(sketch_of(IDS, 5), target_partitions=5)
    assert set(second.added_keys(first.keys)) == set(second.keys) - set(first.keys)
    assert set(second.removed_keys(first.keys)) == set(first.keys) - set(second.keys)


@settings(deadline=None, max_examples=60)
@given(
    st.lists(st.text(min_size=1, max_size=6), min_size=0, max_size=300),
    st.integers(min_value=1, max_value=12),
    st.integers(min_value=0, max_value=2**32),
)
def test_plans_and_replans_always_tile(ids: list[str], target: int, seed: int) -> None:
    first = plan_ranges(sketch_of(ids, target), target_partitions=target)
    check_tiling(first.key_ranges)
    assert first.keys == sorted(first.keys)
    rng = random.Random(seed)
    tomorrow = [i for i in ids if rng.random() < 0.7] + [i + "z" for i in ids if rng.random() < 0.3]
    second = replan(tomorrow, first.key_ranges, target)
    check_tiling(second.key_ranges)
    assert second.keys == sorted(second.keys)
    assert second.keys == replan(tomorrow, first.key_ranges, target).keys
    for external_id in tomorrow:
        assert sum(r.contains(external_id) for r in second.key_ranges) == 1
    boundaries = [r.key_range.lo for r in second.ranges[1:]]
    assert boundaries == sorted(set(boundaries))
    assert bisect_left(boundaries, "") == 0


@settings(deadline=None, max_examples=50)
@given(
    st.sets(st.text(min_size=1, max_size=8), max_size=300).map(sorted),
    st.integers(min_value=1, max_value=12),
)
def test_a_plan_is_a_fixed_point_of_replanning_on_the_same_data(
    ids: list[str], target: int
) -> None:
    first = plan_ranges(sketch_of(ids, target), target_partitions=target)
    assert replan(ids, first.key_ranges, target).keys == first.keys


def test_far_cuts_prefer_the_nearest_candidate_not_the_shortest() -> None:
    plan = plan_ranges(sketch_of(["0", "00", "1"], 4), target_partitions=4)
    assert plan.keys == ["!00", "00!1", "1!"]

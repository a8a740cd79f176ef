"""The cost model against hand-computed cases (pagedlist.core.costs)."""

from __future__ import annotations

import dataclasses

import pytest

from pagedlist.core import costs
from pagedlist.core.costs import (
    CosmosBilling,
    DynamoDBBilling,
    NoBilling,
    OCIBilling,
    OpCost,
    Workload,
    append_cost,
    append_cost_at,
    billing_for,
    latest_cost,
    mix_cost,
    recommend_capacity,
)

KB = 1024
# One-kilobyte entries, no page overhead: the "k + 1 write units" case exactly.
ONE_KB = Workload(entry_bytes=KB, page_overhead=0, summary_bytes=200, latest_n=50)


@pytest.mark.parametrize("k", [0, 1, 5, 99, 349])
def test_dynamodb_append_into_page_of_k_one_kb_items_costs_k_plus_1_wcu(k: int) -> None:
    cost = append_cost_at(DynamoDBBilling(), ONE_KB, k)
    assert cost == OpCost(0.0, float(k + 1), 1.0, 0.0, float((k + 1) * KB))


def test_dynamodb_update_rounds_the_larger_size_up_to_the_next_kb() -> None:
    billing = DynamoDBBilling()
    assert billing.write(0, 1) == (0.0, 1.0)
    assert billing.write(1024, 1025) == (0.0, 2.0)
    assert billing.write(3000, 100) == (0.0, 3.0)  # shrinking: the old size counts
    assert billing.failed_write(5 * KB) == (0.0, 5.0)


def test_dynamodb_append_average_over_a_page_life_includes_the_page_roll() -> None:
    # capacity 4: appends write 1+2+3+4 WCU; the roll costs a failed append on the full
    # 4 KB page (4 WCU), a summary read (1 RCU) and the head increment (1 WCU).
    cost = append_cost(DynamoDBBilling(), ONE_KB, 4)
    assert cost.write_units == pytest.approx((1 + 2 + 3 + 4 + 4 + 1) / 4)
    assert cost.read_units == pytest.approx(1 / 4)
    assert cost.round_trips == pytest.approx((4 + 3) / 4)


def test_more_writers_per_roll_pay_more_failed_appends() -> None:
    one = append_cost(DynamoDBBilling(), ONE_KB, 4)
    many = append_cost(DynamoDBBilling(), dataclasses.replace(ONE_KB, writers_per_roll=3.0), 4)
    # Two extra writers each pay a 4 WCU failed append and a 1 RCU summary read.
    assert many.write_units - one.write_units == pytest.approx(2 * 4 / 4)
    assert many.read_units - one.read_units == pytest.approx(2 * 1 / 4)


def test_dynamodb_latest_reads_each_page_rounded_to_4kb() -> None:
    # capacity 10, n 50: five full 10 KB pages (3 RCU each), the summary (1 RCU), and the
    # head page holding 0..9 items: 1 (missing), 1,1,1,1 (1-4 KB), 2,2,2,2 (5-8 KB), 3.
    cost = latest_cost(DynamoDBBilling(), ONE_KB, 10)
    assert cost.read_units == pytest.approx(5 * 3 + 1 + 16 / 10)
    assert cost.round_trips == 1.0
    assert cost.write_units == 0.0


def test_eventually_consistent_dynamodb_reads_cost_half() -> None:
    assert DynamoDBBilling(strong_reads=False).batch_read([4 * KB, None]) == 1.0
    assert DynamoDBBilling().batch_read([4 * KB + 1]) == 2.0


def test_cosmos_point_reads_follow_microsofts_table() -> None:
    billing = CosmosBilling()
    assert billing.batch_read([KB]) == pytest.approx(1.0)
    assert billing.batch_read([100 * KB]) == pytest.approx(10.0)
    assert CosmosBilling(strong_reads=True).batch_read([KB]) == pytest.approx(2.0)
    assert billing.write(0, KB) == (0.0, pytest.approx(5.0))


def test_oci_conditional_write_reads_the_old_row_with_absolute_consistency() -> None:
    billing = OCIBilling()
    assert billing.write(0, 1500) == (0.0, 2.0)
    assert billing.write(1000, 2100) == (2.0, 3.0)
    assert billing.batch_read([KB, None]) == 4.0
    assert OCIBilling(strong_reads=False).batch_read([KB + 1]) == 2.0


def test_stores_without_billing_count_round_trips_and_bytes() -> None:
    cost = append_cost(NoBilling("redis"), ONE_KB, 4)
    assert cost.units == 0.0
    assert cost.round_trips == pytest.approx(7 / 4)
    assert cost.bytes_written == pytest.approx((KB * (1 + 2 + 3 + 4) + 200) / 4)


def test_billing_for_maps_url_schemes() -> None:
    assert isinstance(billing_for("dynamodb"), DynamoDBBilling)
    assert isinstance(billing_for("oci-nosql+http"), OCIBilling)
    assert isinstance(billing_for("cosmos"), CosmosBilling)
    redis = billing_for("redis+cluster")
    assert isinstance(redis, NoBilling) and redis.name == "redis"
    assert billing_for("rediss").name == "redis"
    assert isinstance(billing_for("something-new"), NoBilling)


def test_mix_weights_reads_and_appends() -> None:
    billing = DynamoDBBilling()
    work = Workload(entry_bytes=KB, page_overhead=0, read_fraction=0.75)
    mixed = mix_cost(billing, work, 8)
    app, lat = append_cost(billing, work, 8), latest_cost(billing, work, 8)
    assert mixed.write_units == pytest.approx(0.25 * app.write_units)
    assert mixed.read_units == pytest.approx(0.75 * lat.read_units + 0.25 * app.read_units)


def test_recommended_capacity_is_the_cheapest_on_the_curve() -> None:
    billing = DynamoDBBilling()
    work = Workload(entry_bytes=300, page_overhead=64, read_fraction=0.9, latest_n=50)
    rec = recommend_capacity(billing, work, max_capacity=300)
    scores = dict(rec.curve)
    assert len(scores) == 300
    assert scores[rec.capacity] == min(scores.values())
    # Appends grow with the page, so the cheapest capacity is far below the largest.
    assert 1 < rec.capacity < 100
    assert append_cost(billing, work, 200).write_units > append_cost(billing, work, 20).write_units


def test_recommended_capacity_respects_the_row_limit() -> None:
    work = Workload(entry_bytes=KB, page_overhead=0, read_fraction=0.0)
    # All appends: the smallest page is cheapest, but the limit is what is checked here.
    rec = recommend_capacity(
        NoBilling("memory"),
        Workload(entry_bytes=KB, page_overhead=0, read_fraction=1.0),
        row_bytes=8 * KB,
    )
    assert rec.capacity <= 8
    # All appends on DynamoDB, weighted 5 per WCU and 1 per RCU: capacity 1 costs
    # 1 + (1 failed + 1 increment) WCU and 1 RCU = 16; capacity 2 costs (1 + 2 + 2 + 1) / 2
    # WCU and 1/2 RCU = 15.5; capacity 3 costs (1 + 2 + 3 + 3 + 1) / 3 WCU and 1/3 RCU = 17.
    assert recommend_capacity(DynamoDBBilling(), work).capacity == 2
    with pytest.raises(ValueError, match="does not fit"):
        recommend_capacity(DynamoDBBilling(), work, row_bytes=100)


def test_capacity_must_be_positive() -> None:
    with pytest.raises(ValueError):
        append_cost(DynamoDBBilling(), ONE_KB, 0)
    with pytest.raises(ValueError):
        latest_cost(DynamoDBBilling(), ONE_KB, 0)


def test_sweep_rows_match_the_single_figures() -> None:
    billing = DynamoDBBilling()
    rows = costs.sweep(billing, ONE_KB, [4, 10])
    assert [r["capacity"] for r in rows] == [4, 10]
    assert rows[0]["append_write_units"] == pytest.approx(
        append_cost(billing, ONE_KB, 4).write_units
    )
    assert rows[1]["latest_read_units"] == pytest.approx(5 * 3 + 1 + 1.6)


def test_native_design_costs() -> None:
    work = Workload(entry_bytes=KB, page_overhead=0, latest_n=50)
    # DynamoDB: a 1 KB PutItem is 1 WCU; a Query of 50 KB is rounded up to 4 KB once: 13.
    assert costs.native_append_cost(DynamoDBBilling(), work).write_units == 1.0
    assert costs.native_latest_cost(DynamoDBBilling(), work).read_units == 13.0
    # OCI reads every row: 50 rows of 1 KB at ABSOLUTE consistency.
    assert costs.native_latest_cost(OCIBilling(), work).read_units == 100.0
    assert costs.native_latest_cost(CosmosBilling(), work, 1).read_units == pytest.approx(3.5)

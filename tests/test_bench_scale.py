"""The ``scale`` part of ``lstm-course bench`` (perf/scale.py) at its ``--quick`` size: fast and
full grading and plain nbgrader, 1 and 2 local Dask workers, and the projection table. It checks
the harness (scores that agree, every row present), not speed."""

from __future__ import annotations

import pytest
from conftest import ROOT

from lstm_course.instructor.perf import bench
from lstm_course.instructor.perf.scale import CLASS_SIZES, WORKER_COUNTS, bench_scale, projection

pytest.importorskip("distributed")
pytestmark = pytest.mark.slow


def test_quick_scale_bench_runs_every_new_path_with_equal_scores():
    from lstm_course.instructor.grading.sandbox import SandboxUnavailable, detect

    try:
        detect()
    except SandboxUnavailable as err:
        pytest.skip(f"no grading sandbox here: {err}")
    result = bench_scale(ROOT, quick=True, log=lambda _m: None)
    (row,) = result["chapters"]
    assert row["fast"] > 0 and row["full"] > 0 and row["plain_nbgrader"] > 0
    assert row["fast_scores"] == row["full_scores"] == row["plain_scores"] and row["fast_scores"][0] > 0
    dask = result["dask"]
    assert set(dask["workers"]) == {1, 2} and dask["scheduler_overhead_s"] > 0
    assert dask["workers"][1]["scores"] == dask["workers"][2]["scores"]
    assert all(s > 0 for s in dask["workers"][1]["scores"])
    rows = result["projection"]["rows"]
    assert len(rows) == len(CLASS_SIZES) * len(WORKER_COUNTS)
    targets = {t["target"] for t in bench.targets_met({"scale": result})}
    assert any("4x plain nbgrader" in t for t in targets) and any("1.7x" in t for t in targets)


def test_projection_scales_with_workers_and_states_its_assumption():
    p = projection(per_second_two_cores=0.5, overhead_s=0.01)
    assert "constant" in p["assumption"] and "0.5000" in p["assumption"]
    hours = {(r["submissions"], r["workers"]): r["hours"] for r in p["rows"]}
    assert hours[3600, 1] == pytest.approx((3600 / 0.5 + 36) / 3600)
    assert hours[3600, 1] > hours[3600, 10] > hours[3600, 100] > 36 / 3600
    assert hours[50000, 100] > hours[3600, 100]

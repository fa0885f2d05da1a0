"""The projection table of the ``scale`` part of ``lstm-course bench`` (perf/scale.py). The part
itself runs at its ``--quick`` size inside test_bench.py's one ``bench --quick`` run."""

from __future__ import annotations

import pytest

from lstm_course.instructor.perf.scale import projection


def test_projection_scales_with_workers_and_states_its_assumption():
    p = projection(per_second_two_cores=0.5, overhead_s=0.01)
    assert "constant" in p["assumption"] and "0.5000" in p["assumption"]
    hours = {(r["submissions"], r["workers"]): r["hours"] for r in p["rows"]}
    assert hours[3600, 1] == pytest.approx((3600 / 0.5 + 36) / 3600)
    assert hours[3600, 1] > hours[3600, 10] > hours[3600, 100] > 36 / 3600
    assert hours[50000, 100] > hours[3600, 100]

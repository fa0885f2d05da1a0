"""`lstm-course bench --quick`: the harness runs end to end and writes what the appendix reads.

This checks the harness (every table present, positive times, consistent ratios, scores that
agree), not speed: speed targets are read from the full run, never asserted in a timed test.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from conftest import ROOT, nbgrader_env

from lstm_course.instructor.perf import bench
from lstm_course.instructor.perf import report as bench_report


@pytest.fixture(scope="module")
def quick_results(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench") / "results.json"
    proc = subprocess.run([sys.executable, "-m", "lstm_course.instructor.cli", "bench", "--quick",
                           "--json", str(out)], cwd=ROOT, env=nbgrader_env(),
                          capture_output=True, text=True, timeout=1500)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return json.loads(out.read_text()), proc.stdout


def test_machine_is_described(quick_results):
    machine = quick_results[0]["machine"]
    for key in ("cpu", "cores", "torch", "torch_threads", "python"):
        assert machine[key]


def test_lstm_table_has_both_passes_every_implementation_and_ratios(quick_results):
    rows = quick_results[0]["lstm"]
    assert {r["pass"] for r in rows} == {"forward", "forward + backward"}
    for r in rows:
        assert {"nn.LSTM", "course LSTM", "naive per-gate loop"} <= set(r["ms"])
        assert all(ms > 0 for ms in r["ms"].values())
        assert r["ratio_to_nn_lstm"]["nn.LSTM"] == pytest.approx(1.0)
        assert r["ratio_to_nn_lstm"]["course LSTM"] == pytest.approx(
            r["ms"]["course LSTM"] / r["ms"]["nn.LSTM"])
    assert "NumPy reference" in rows[0]["ms"]


def test_notebook_times_are_measured_and_the_notebook_ran(quick_results):
    rows = quick_results[0]["notebooks"]["chapters"]
    assert rows and all(r["seconds"] > 0 and r["status"] == "ok" for r in rows)


def test_grading_rows_compare_plain_nbgrader_and_both_job_counts_with_equal_scores(quick_results):
    rows = {r["method"]: r for r in quick_results[0]["grading"]}
    assert set(rows) == {"plain nbgrader autograde", "lstm-course grade --jobs 1",
                         "lstm-course grade --jobs 2"}
    scores = [sorted(r["scores"].values()) for r in rows.values()]
    assert scores[0] == scores[1] == scores[2] and scores[0][0] > 0


def test_scale_part_grades_fast_full_plain_and_on_dask_with_equal_scores(quick_results):
    from lstm_course.instructor.perf.scale import CLASS_SIZES, WORKER_COUNTS

    result = quick_results[0]["scale"]
    (row,) = result["chapters"]
    assert row["fast"] > 0 and row["full"] > 0 and row["plain_nbgrader"] > 0
    assert row["fast_scores"] == row["full_scores"] == row["plain_scores"] and row["fast_scores"][0] > 0
    assert row["fast_scores"][0] == row["max_score"]
    dask = result["dask"]
    assert set(dask["workers"]) == {"1", "2"} and dask["scheduler_overhead_s"] > 0
    assert dask["workers"]["1"]["scores"] == dask["workers"]["2"]["scores"]
    assert all(s > 0 for s in dask["workers"]["1"]["scores"])
    assert len(result["projection"]["rows"]) == len(CLASS_SIZES) * len(WORKER_COUNTS)
    targets = {t["target"]: t for t in quick_results[0]["targets"]}
    assert any("4x plain nbgrader" in t for t in targets) and any("1.7x" in t for t in targets)
    marks = next(t for name, t in targets.items() if "full marks" in name)
    assert marks["met"], marks
    broken = {**result, "chapters": [{**row, "fast_scores": [0.0]}]}
    assert not next(t for t in bench.targets_met({"scale": broken}) if "full marks" in t["target"])["met"]


def test_targets_are_read_from_the_tables(quick_results):
    names = " ".join(t["target"] for t in quick_results[0]["targets"])
    assert "notebook" in names and "--jobs 2" in names and "isolation" in names


def test_appendix_renders_the_results(quick_results):
    results = quick_results[0]
    assert "nn.LSTM" in bench_report.lstm_markdown(results)
    assert "lstm-course grade --jobs 2" in bench_report.grading_markdown(results)
    assert bench_report.limits_markdown(results)
    scale = bench_report.scale_markdown(results)
    assert "plain / fast" in scale and "submissions per second" in scale and "two-core workers" in scale
    bench_report.plot_ratios(results)
    bench_report.plot_notebook_times(results)
    bench_report.plot_grading(results)


def test_limits_name_each_missed_target_with_its_measurements():
    grading = [
        {"method": "plain nbgrader autograde", "seconds_per_submission": 10.0},
        {"method": "lstm-course grade --jobs 1", "seconds_per_submission": 14.0,
         "timings": {"kernel_start": 3.0, "execute": 12.5}},
    ]
    targets = [{"target": "isolation at most 1.3x plain nbgrader per submission", "measured": 1.4,
                "met": False},
               {"target": "every notebook under 60 s", "measured": 31.0, "met": True}]
    text = bench_report.limits_markdown({"machine": {"cores": 2}, "grading": grading,
                                         "targets": targets})
    assert "1.40×" in text and "4.00 s more" in text and "3.00 s" in text and "9.50 s" in text
    assert "notebook" not in text   # a met target is not listed
    targets[0]["met"] = True
    assert bench_report.limits_markdown({"machine": {"cores": 2}, "grading": grading,
                                         "targets": targets}) == "Every target is met on this machine."


# -- the committed full run ----------------------------------------------------------------
COMMITTED = ROOT / "book" / "bench_results.json"


@pytest.fixture(scope="module")
def committed():
    assert COMMITTED.exists(), "run `make bench` and commit book/bench_results.json"
    return json.loads(COMMITTED.read_text())


def test_committed_results_are_a_full_run_of_the_whole_grid(committed):
    from lstm_course.instructor.perf.bench import FULL_GRID, input_size_for

    assert committed["quick"] is False
    measured = {(r["T"], r["B"], r["I"], r["H"], r["pass"]) for r in committed["lstm"]}
    expected = {(T, B, input_size_for(H), H, p) for T, B, H in FULL_GRID
                for p in ("forward", "forward + backward")}
    assert measured == expected


def test_committed_results_time_every_chapter_and_the_book(committed):
    from lstm_course.instructor.release import chapter_names

    rows = committed["notebooks"]["chapters"]
    assert [r["chapter"] for r in rows] == chapter_names(ROOT)
    assert all(r["status"] == "ok" for r in rows)
    assert committed["notebooks"]["book_build_s"] > 0


def test_committed_results_check_every_target(committed):
    # the verdicts stored are the ones the stored tables give, and every part has its target
    recomputed = bench.targets_met(committed)
    verdicts = [(t["target"], t["met"]) for t in committed["targets"]]
    assert verdicts == [(t["target"], t["met"]) for t in recomputed]
    names = " | ".join(t["target"] for t in committed["targets"])
    for part in ("forward + backward within", "forward within", "--jobs 2", "isolation", "4x plain nbgrader",
                 "Dask workers", "full marks", "every notebook"):
        assert part in names, (part, names)
    assert all(isinstance(t["met"], bool) for t in committed["targets"])


def test_the_appendix_is_in_the_table_of_contents():
    assert "book/performance" in (ROOT / "_toc.yml").read_text()

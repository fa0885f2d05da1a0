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

from lstm_course import bench_report


@pytest.fixture(scope="module")
def quick_results(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench") / "results.json"
    proc = subprocess.run([sys.executable, "-m", "lstm_course.cli", "bench", "--quick",
                           "--json", str(out)], cwd=ROOT, env=nbgrader_env(),
                          capture_output=True, text=True, timeout=900)
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


def test_targets_are_read_from_the_tables(quick_results):
    names = " ".join(t["target"] for t in quick_results[0]["targets"])
    assert "notebook" in names and "--jobs 2" in names and "isolation" in names


def test_appendix_renders_the_results(quick_results):
    results = quick_results[0]
    assert "nn.LSTM" in bench_report.lstm_markdown(results)
    assert "lstm-course grade --jobs 2" in bench_report.grading_markdown(results)
    bench_report.plot_ratios(results)
    bench_report.plot_notebook_times(results)
    bench_report.plot_grading(results)

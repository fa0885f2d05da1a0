"""Named mistakes as data: a failing check carries the id of the mistake it matched, a failing
test cell records it as a display_data output (never on stderr), and the grader reads it back."""

from __future__ import annotations

import nbformat
import numpy as np
import pytest

from lstm_course.instructor.grading.mistakes import read_mistake, read_mistakes, write_mistakes
from lstm_course.teach import checks
from lstm_course.teach.mistakes import CATALOG, MIME, Mistake, mistake_id, slug

GATE_ORDER = "the blocks were read in the order i, f, o, g; PyTorch packs i, f, g, o"


def test_check_close_carries_the_catalogued_id_and_keeps_its_message():
    with pytest.raises(checks.CheckFailed) as err:
        checks.check_close("g", np.array([1.0, 2.0]), np.array([0.0, 0.0]),
                           mistakes={"something else": np.array([5.0, 5.0]),
                                     GATE_ORDER: np.array([1.0, 2.0])})
    assert err.value.mistake == CATALOG[GATE_ORDER] == "gate-order-ifog"
    assert err.value.mistake_description == GATE_ORDER
    assert str(err.value).endswith(f" It looks like {GATE_ORDER}.")
    assert str(err.value).startswith("g differs from the reference: max absolute error 2,")


def test_unmatched_failure_and_plain_raise_carry_no_id():
    with pytest.raises(checks.CheckFailed) as err:
        checks.check_close("g", np.array([1.0]), np.array([0.0]), mistakes={"x": np.array([7.0])})
    assert err.value.mistake is None and err.value.mistake_description is None
    assert checks.CheckFailed("plain").mistake is None
    assert checks.CheckFailed("own", mistake="my-id").mistake == "my-id"


def test_explicit_ids_slugs_scalars_and_shapes():
    key = Mistake("my-own-id", "the answer was doubled")
    with pytest.raises(checks.CheckFailed) as err:
        checks.check_scalar("s", 4.0, 2.0, mistakes={key: 4.0})
    assert err.value.mistake == "my-own-id" and "It looks like the answer was doubled." in str(err.value)
    with pytest.raises(checks.CheckFailed) as err:
        checks.check_close("m", np.ones((2, 3)), np.ones((3, 2)),
                           mistakes={"It was Transposed!": np.ones((2, 3))})
    assert err.value.mistake == slug("It was Transposed!") == "auto:it-was-transposed"
    assert mistake_id("the bias b was ignored") == mistake_id("the bias b_f was left out") == "bias-missing"


def test_run_checks_keeps_the_first_named_mistake():
    def unnamed():
        raise checks.CheckFailed("no name")

    def named():
        checks.check_close("g", np.array([1.0]), np.array([0.0]), mistakes={GATE_ORDER: np.array([1.0])})

    with pytest.raises(checks.CheckFailed) as err:
        checks.run_checks({"a": unnamed, "b": named})
    assert err.value.mistake == "gate-order-ifog" and "- a: no name" in str(err.value)


def test_failing_test_cell_records_the_mistake_as_display_data_not_stderr(tmp_path):
    from nbclient import NotebookClient

    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell("import numpy as np\nfrom lstm_course.teach import checks"),
        nbformat.v4.new_code_cell(
            "checks.check_close('g', np.array([1.0]), np.array([0.0]),\n"
            f"                   mistakes={{{GATE_ORDER!r}: np.array([1.0])}})"
        ),
        nbformat.v4.new_code_cell("raise checks.CheckFailed('no mistake named')"),
    ]
    NotebookClient(nb, timeout=120, allow_errors=True, kernel_name="python3").execute()
    named, plain = nb.cells[1], nb.cells[2]
    kinds = [o["output_type"] for o in named.outputs]
    assert kinds == ["display_data", "error"], named.outputs
    assert named.outputs[0]["data"][MIME] == {"mistake": "gate-order-ifog", "description": GATE_ORDER}
    assert named.outputs[0]["data"]["text/plain"] == ""
    assert named.outputs[1]["ename"] == "CheckFailed"
    assert read_mistake(named) == {"mistake": "gate-order-ifog", "description": GATE_ORDER}
    assert [o["output_type"] for o in plain.outputs] == ["error"] and read_mistake(plain) is None
    assert not any(o.get("name") == "stderr" for c in nb.cells for o in c.outputs)


def test_mistakes_csv_round_trip(tmp_path):
    results = [{"student_id": "ann", "chapter": "ch03", "tests": [
        {"test": "t1", "exercise": "e1", "status": "passed", "points": 2, "max_points": 2, "message": ""},
        {"test": "t2", "exercise": "e2", "status": "failed", "points": 0, "max_points": 3,
         "message": "=cmd|x", "mistake": {"mistake": "gate-order-ifog", "description": GATE_ORDER}},
        {"test": "t3", "exercise": "e3", "status": "not run", "points": 0, "max_points": 1, "message": "m"},
    ]}]
    write_mistakes(tmp_path / "mistakes.csv", results)
    assert "'=cmd" in (tmp_path / "mistakes.csv").read_text()
    rows = read_mistakes(tmp_path / "mistakes.csv")
    assert [(r["test"], r["mistake"], r["message"]) for r in rows] == [
        ("t2", "gate-order-ifog", "=cmd|x"), ("t3", "", "m")]


def _run_test_cell(chapter: str, grade_id: str, answer: str) -> checks.CheckFailed | None:
    """Run a chapter's imports, ``answer`` in place of the solution ``grade_id``, then its tests."""
    from conftest import ROOT

    nb = nbformat.read(ROOT / "solutions" / chapter / f"{chapter}.ipynb", as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    test = next(c for c in code if c.metadata.get("nbgrader", {}).get("grade_id") == f"{grade_id}_tests")
    scope: dict = {}
    exec(code[0].source, scope)  # the imports
    exec(answer, scope)
    try:
        exec(test.source, scope)
    except checks.CheckFailed as err:
        return err
    return None


def test_shape_hints_of_chapter_2_carry_mistake_ids():
    def shapes(w_f: str) -> checks.CheckFailed | None:
        answer = ("def forget_gate_shapes(batch, input_size, hidden_size):\n"
                  "    n_z = hidden_size + input_size\n"
                  f"    return {{'z_t': (batch, n_z), 'W_f': {w_f}, 'b_f': (hidden_size,),\n"
                  "            'f_t': (batch, hidden_size)}\n")
        return _run_test_cell("ch02_forget_gate", "forget_gate_shapes", answer)

    assert shapes("(hidden_size, n_z)") is None
    err = shapes("(n_z, hidden_size)")
    assert err.mistake == "weight-in-out-layout" and "(in, out) layout" in err.mistake_description
    err = shapes("(hidden_size, input_size)")
    assert err.mistake == "weight-reads-x-only" and "It looks like W_f reads" in str(err)


def test_store_bit_failures_of_chapter_3_carry_mistake_ids():
    def weights(forget_bias: float, order: str = "ifgo") -> str:
        rows = {"i": ([0, 20, 0], -10), "f": ([0, -20, 0], forget_bias), "g": ([0, 0, 5], 0),
                "o": ([0, 0, 0], 10)}
        return ("def store_bit_weights():\n"
                f"    W = np.array({[rows[k][0] for k in order]}, dtype=float)\n"
                f"    b = np.array({[rows[k][1] for k in order]}, dtype=float)\n"
                "    return W, b\n")

    assert _run_test_cell("ch03_input_gate", "store_bit", weights(10)) is None
    err = _run_test_cell("ch03_input_gate", "store_bit", weights(2))  # f = 0.88 on quiet steps
    assert err.mistake == "store-bit-leaks" and "leak" in err.mistake_description
    err = _run_test_cell("ch03_input_gate", "store_bit", weights(10, order="figo"))
    assert err.mistake == "gate-order-figo" and "PyTorch packs i, f, g, o" in str(err)

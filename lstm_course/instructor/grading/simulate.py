"""A simulated class: submissions made from the answer key with named mistakes planted at known rates.

For the instructor guide's example report and for the test that the class report recovers what
was planted (tests/test_grade_report.py). Each submission is the chapter's graded skeleton
(:func:`~lstm_course.instructor.release.strip_demonstrations`: imports, exercises and tests, no
training runs), so a class of 60 grades in minutes. Most students get one or more of the
mistakes of :data:`PLANTS` (each given to exactly ``round(rate * n)`` students, so the planted
rates are exact); a few hand in the untouched student notebook (blank), one a file that is not a
notebook, and one a notebook with a syntax error.

Mistakes can spill over: a student whose ``sigmoid`` is flipped also fails the exercises that
call it, just as in a real class. To keep each planted rate measurable, students with a
flipped sigmoid get no other planted mistake; what their later answers look like is part of the
example (the report shows it under the other exercises).
"""

from __future__ import annotations

import copy
import json
import random
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

CHAPTER = "ch02_forget_gate"


@dataclass(frozen=True)
class Plant:
    exercise: str  # the solution cell's grade id
    test: str  # the test cell that names it
    mistake: str  # the id the test records (lstm_course.teach.mistakes.CATALOG)
    rate: float  # fraction of the class that gets it
    code: str  # the student's (wrong) cell


_SIG = '''def sigmoid(z):
    """Element-wise 1 / (1 + exp(-z)), without overflow. z: any shape. Returns the same shape."""
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, e / (1.0 + e), 1.0 / (1.0 + e))
'''
_FG = '''def forget_gate(x_t, h_prev, W_f, b_f):
    """f_t = sigmoid([h_{t-1}, x_t] @ W_f.T + b_f). x_t: (B, I), h_prev: (B, H). Returns (B, H)."""
    %s
'''
_PC = '''def predict_cell_state(c_0, a_f):
    """c_T after T steps with the input gate shut. c_0: (B, H), a_f: (T, B, H). Returns (B, H)."""
    %s
'''

#: The mistakes planted in each chapter's simulated class.
PLANTS: dict[str, list[Plant]] = {
    CHAPTER: [
        Plant("sigmoid", "sigmoid_tests", "sigmoid-sign-flipped", 0.10, _SIG),
        Plant("forget_gate", "forget_gate_tests", "concat-order-xh", 0.20,
              _FG % "z = np.concatenate([x_t, h_prev], axis=1)\n    return sigmoid(z @ W_f.T + b_f)"),
        Plant("forget_gate", "forget_gate_tests", "bias-missing", 0.10,
              _FG % "z = np.concatenate([h_prev, x_t], axis=1)\n    return sigmoid(z @ W_f.T)"),
        Plant("forget_gate", "forget_gate_tests", "result-transposed", 0.05,
              _FG % "z = np.concatenate([h_prev, x_t], axis=1)\n"
                    "    return sigmoid(W_f @ z.T + b_f[:, None])"),
        Plant("predict_cell_state", "predict_cell_state_tests", "only-last-gate", 0.15,
              _PC % "return c_0 * sigmoid(a_f[-1])"),
        Plant("predict_cell_state", "predict_cell_state_tests", "gates-added", 0.10,
              _PC % "return c_0 * np.sum(sigmoid(a_f), axis=0)"),
        Plant("predict_cell_state", "predict_cell_state_tests", "initial-state-missing", 0.05,
              _PC % "return np.prod(sigmoid(a_f), axis=0)"),
    ]
}
#: Planted mistakes whose students get no other one (their slip changes later exercises).
ISOLATED = {"sigmoid-sign-flipped"}


@dataclass
class SimulatedClass:
    chapter: str
    folder: Path
    size: int
    planted: dict[tuple[str, str], list[str]] = field(default_factory=dict)  # (test, mistake) -> ids
    kinds: dict[str, str] = field(default_factory=dict)  # id -> key | mistakes | blank | broken

    def rate(self, test: str, mistake: str) -> float:
        return len(self.planted.get((test, mistake), [])) / self.size

    def manifest(self) -> dict:
        return {
            "chapter": self.chapter,
            "size": self.size,
            "planted": [
                {"test": t, "mistake": m, "students": ids, "rate": len(ids) / self.size}
                for (t, m), ids in sorted(self.planted.items())
            ],
            "kinds": self.kinds,
        }


def _set_cell(nb, grade_id: str, source: str) -> None:
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == grade_id:
            cell.source = source.strip("\n")
            return
    raise KeyError(grade_id)


def simulate_class(dest: Path, *, root: Path, chapter: str = CHAPTER, size: int = 60, seed: int = 0,
                   blank: int = 2, not_notebook: int = 1, syntax_error: int = 1) -> SimulatedClass:
    """Write ``size`` submissions of ``chapter`` into ``dest`` (``student_NN.ipynb``)."""
    from lstm_course.instructor.release import strip_demonstrations

    plants = PLANTS[chapter]
    def read(part: str):
        return strip_demonstrations(nbformat.read(root / part / chapter / f"{chapter}.ipynb", as_version=4))

    key, student = read("solutions"), read("chapters")
    dest.mkdir(parents=True, exist_ok=True)
    ids = [f"student_{i:02d}" for i in range(1, size + 1)]
    rng = random.Random(seed)
    order = ids[:]
    rng.shuffle(order)
    broken = blank + not_notebook + syntax_error
    special, working = order[:broken], order[broken:]
    sim = SimulatedClass(chapter, dest, size)
    chosen: dict[str, dict[str, Plant]] = {sid: {} for sid in working}
    isolated: set[str] = set()
    pool = working[:]
    for plant in sorted(plants, key=lambda p: p.mistake not in ISOLATED):
        count = round(plant.rate * size)
        free = [s for s in pool if plant.exercise not in chosen[s] and s not in isolated
                and (plant.mistake not in ISOLATED or not chosen[s])]
        if count > len(free):
            raise ValueError(f"cannot plant {plant.mistake} in {count} of {size} students")
        picked = rng.sample(free, count)
        for sid in picked:
            chosen[sid][plant.exercise] = plant
            if plant.mistake in ISOLATED:
                isolated.add(sid)
        sim.planted[(plant.test, plant.mistake)] = sorted(picked)
    for sid in working:
        nb = copy.deepcopy(key)
        for plant in chosen[sid].values():
            _set_cell(nb, plant.exercise, plant.code)
        sim.kinds[sid] = "mistakes" if chosen[sid] else "key"
        nbformat.write(nb, dest / f"{sid}.ipynb")
    for i, sid in enumerate(special):
        if i < blank:
            nbformat.write(student, dest / f"{sid}.ipynb")
            sim.kinds[sid] = "blank"
        elif i < blank + not_notebook:
            (dest / f"{sid}.ipynb").write_text('{"cells": [{"cell_type": "code", "source": ')
            sim.kinds[sid] = "broken"
        else:
            nb = copy.deepcopy(key)
            _set_cell(nb, plants[1].exercise, "def forget_gate(x_t, h_prev, W_f, b_f)\n    return x_t\n")
            nbformat.write(nb, dest / f"{sid}.ipynb")
            sim.kinds[sid] = "syntax error"
    return sim


def write_manifest(sim: SimulatedClass, path: Path) -> None:
    path.write_text(json.dumps(sim.manifest(), indent=1))


def planted_vs_recovered(manifest: dict, report_mistakes_csv: Path) -> list[dict]:
    """For each planted (test, mistake): the planted and the recovered number and share of students
    (the recovered ones from a class report's ``mistakes.csv``)."""
    import csv

    with open(report_mistakes_csv, newline="", encoding="utf-8") as f:
        found = {(r["test"], r["mistake"]): int(r["count"]) for r in csv.DictReader(f)}
    size = manifest["size"]
    return [
        {
            "test": p["test"],
            "mistake": p["mistake"],
            "planted": len(p["students"]),
            "planted_share": f"{len(p['students']) / size:.0%}",
            "recovered": found.get((p["test"], p["mistake"]), 0),
            "recovered_share": f"{found.get((p['test'], p['mistake']), 0) / size:.0%}",
        }
        for p in manifest["planted"]
    ]


def main(argv: list[str] | None = None) -> int:
    """``python -m lstm_course.instructor.grading.simulate MANIFEST REPORT_DIR OUT.csv``: the
    planted-versus-recovered table of a simulated class (as in the instructor guide)."""
    import csv
    import sys

    manifest_path, report_dir, out = (Path(a) for a in (argv or sys.argv[1:]))
    rows = planted_vs_recovered(json.loads(manifest_path.read_text()), report_dir / "mistakes.csv")
    with open(out, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

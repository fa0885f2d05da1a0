"""The real nbgrader CLI, unsandboxed, on one chapter: the answer key earns full marks, the
untouched student notebook earns 0. (Every chapter goes through ``lstm-course grade``, which runs
nbgrader's autograde in the sandbox, in test_grade_fast.py; this one checks that the course
also works with plain nbgrader, the way an instructor without the sandbox would grade.)"""

from __future__ import annotations

import shutil

import nbformat
import pytest
from conftest import ROOT, chapters, make_course, run_nbgrader
from nbgrader.api import Gradebook


def _failed_cells(course, chapter, student) -> list[str]:
    """The grade cells that did not earn full marks, with their error output (for the report)."""
    out = []
    path = course / "autograded" / student / chapter / f"{chapter}.ipynb"
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if not meta.get("grade"):
            continue
        errors = [o for o in cell.get("outputs", []) if o.output_type == "error"
                  or (o.output_type == "stream" and o.name == "stderr")]
        if errors:
            first = errors[0]
            text = first.get("evalue") or first.get("text", "")
            out.append(f"{meta['grade_id']}: {first.get('ename', 'stderr')}: {text[:300]}")
    return out


@pytest.mark.slow
@pytest.mark.parametrize("chapter", chapters()[1:2])
def test_answer_key_earns_full_marks_and_student_version_zero(tmp_path, chapter):
    course = make_course(tmp_path, chapter)
    for student, source in {
        "answer_key": ROOT / "solutions" / chapter / f"{chapter}.ipynb",
        "untouched": course / "release" / chapter / f"{chapter}.ipynb",
    }.items():
        dest = course / "submitted" / student / chapter
        dest.mkdir(parents=True)
        shutil.copy(source, dest / f"{chapter}.ipynb")
    run_nbgrader(course, "autograde", chapter, "--force")

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        key = gb.find_submission(chapter, "answer_key")
        blank = gb.find_submission(chapter, "untouched")
        key_score, max_score, blank_score = key.score, key.max_score, blank.score
    assert max_score > 0, f"{chapter} has no graded test cells"
    assert key_score == max_score, (
        f"{chapter}: answer key scored {key_score}/{max_score}; failing cells:\n"
        + "\n".join(_failed_cells(course, chapter, "answer_key"))
    )
    assert blank_score == 0, f"{chapter}: untouched student notebook scored {blank_score}/{max_score}"

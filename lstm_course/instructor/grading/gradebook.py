"""The record stage: the only code that opens nbgrader's gradebook.

nbgrader's own steps (``generate_assignment`` and ``autograde``, run in-process by
:mod:`~lstm_course.instructor.grading.runner` and :mod:`~lstm_course.instructor.grading.worker`)
write their rows themselves; everything else the grader reads or writes goes through here: the
tests a chapter has registered, a submission's scores, zeros for a submission that could not run
or that tampered with the tests, and the whole class's points for the report.

A new gradebook is stamped with nbgrader's schema version here, in-process. nbgrader would find
that version by starting ``alembic heads`` in a subprocess, which takes 3 to 4 s on a 2-core
machine; every new course and every benchmark copy paid it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path


def schema_version() -> str:
    """The newest revision of nbgrader's gradebook schema (what ``alembic heads`` prints)."""
    import nbgrader
    from alembic.script import ScriptDirectory

    return ScriptDirectory(str(Path(nbgrader.__file__).parent / "alembic")).get_current_head()


def stamp_if_new(db_url: str) -> None:
    """Give an empty database nbgrader's ``alembic_version`` row, as nbgrader would.

    nbgrader then takes the database for an existing one and creates its tables without asking
    alembic. A database that has any table is left alone; so is the loser of a race between two
    processes stamping the same new database."""
    from sqlalchemy import create_engine, inspect, text
    from sqlalchemy.exc import SQLAlchemyError

    engine = create_engine(db_url, future=True)
    try:
        if inspect(engine).get_table_names():
            return
        with contextlib.suppress(SQLAlchemyError), engine.begin() as conn:
            conn.execute(text("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL)"))
            conn.execute(text("INSERT INTO alembic_version (version_num) VALUES (:v)"),
                         {"v": schema_version()})
    finally:
        engine.dispose()


@contextlib.contextmanager
def open_gradebook(db_url: str, course_id: str) -> Iterator:
    """nbgrader's :class:`~nbgrader.api.Gradebook` on ``db_url``, created if it does not exist."""
    from nbgrader.api import Gradebook

    stamp_if_new(db_url)
    with Gradebook(db_url, course_id) as gb:
        yield gb


def registered_tests(db_url: str, course_id: str, chapter: str
                     ) -> tuple[dict[str, str], dict[str, float]] | None:
    """The test cells ``chapter`` has in the gradebook: (grade id -> source, grade id -> points),
    or None if the chapter is not registered."""
    from nbgrader.api import MissingEntry

    with open_gradebook(db_url, course_id) as gb:
        try:
            nb = gb.find_notebook(chapter, chapter)
        except MissingEntry:
            return None
        return ({c.name: c.source for c in nb.source_cells},
                {c.name: float(c.max_score) for c in nb.grade_cells})


def submission_grades(db_url: str, course_id: str, chapter: str, student_id: str
                      ) -> tuple[float, float, dict[str, tuple[float, float]]]:
    """(score, max score, grade id -> (points, max points)) of one autograded submission."""
    with open_gradebook(db_url, course_id) as gb:
        submission = gb.find_submission(chapter, student_id)
        notebook = gb.find_submission_notebook(chapter, chapter, student_id)
        grades = {g.name: (float(g.score or 0), float(g.max_score)) for g in notebook.grades}
        return float(submission.score), float(submission.max_score), grades


def _zero_every_grade(db_url: str, course_id: str, chapter: str, student_id: str, *,
                      needs_manual_grade: bool) -> None:
    with open_gradebook(db_url, course_id) as gb:
        gb.update_or_create_student(student_id)
        sub = gb.update_or_create_submission(chapter, student_id)
        for notebook in sub.notebooks:
            for grade in notebook.grades:
                grade.auto_score = 0
                grade.needs_manual_grade = needs_manual_grade
        gb.db.commit()


def record_zero(db_url: str, course_id: str, chapter: str, student_id: str) -> None:
    """Give ``student_id`` 0 on every test of ``chapter`` (a submission that could not run)."""
    _zero_every_grade(db_url, course_id, chapter, student_id, needs_manual_grade=False)


def flag_for_review(db_url: str, course_id: str, chapter: str, student_id: str) -> None:
    """Score a tampering submission 0 on every test and mark each test for an instructor."""
    _zero_every_grade(db_url, course_id, chapter, student_id, needs_manual_grade=True)


def class_points(db_url: str, course_id: str, chapter: str) -> dict[str, dict[str, tuple[float, float]]]:
    """student -> test -> (points, max points) of every submission of ``chapter``."""
    from nbgrader.api import MissingEntry

    out: dict[str, dict[str, tuple[float, float]]] = {}
    with open_gradebook(db_url, course_id) as gb:
        try:
            gb.find_assignment(chapter)
        except MissingEntry:
            return out
        for sub in gb.assignment_submissions(chapter):
            points = out.setdefault(sub.student_id, {})
            for nb in sub.notebooks:
                for g in nb.grades:
                    points[g.name] = (float(g.score or 0), float(g.max_score or 0))
    return out


def total_scores(db_url: str, course_id: str, chapter: str, student_ids) -> dict[str, float]:
    """student -> total score of ``chapter`` (plain nbgrader's result, for the benchmark)."""
    with open_gradebook(db_url, course_id) as gb:
        return {sid: float(gb.find_submission(chapter, sid).score) for sid in student_ids}

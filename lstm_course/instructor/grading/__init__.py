"""Autograding for instructors (``lstm-course grade``) and the students' dry run (``lstm-course check``).

Submissions are graded by nbgrader's ``autograde`` with its ``Execute`` step replaced by
:class:`~lstm_course.instructor.grading.executor.SandboxedExecute`, which runs each notebook's
kernel in a sandbox (:mod:`~lstm_course.instructor.grading.sandbox`,
:mod:`~lstm_course.instructor.grading.launcher`) with a guard against tampering with the
tests (:mod:`~lstm_course.instructor.grading.guard`). The instructor guide (book/instructor_guide.md)
explains what it protects against.
"""

import sys

# jsonschema (imported by nbformat, which every grading process imports) loads rfc3987_syntax
# when it is installed, and that builds a grammar for about 2 s of CPU at import. Notebooks
# never use the "iri" format it checks, so grading processes go without it.
if "jsonschema" not in sys.modules:
    sys.modules.setdefault("rfc3987_syntax", None)

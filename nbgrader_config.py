"""The instructor's nbgrader course: the repository root is the course directory.

Sources (answer keys with hidden tests) live in ``solutions/``; the student versions are
released into ``chapters/`` (use ``lstm-course release``, which also tags exercise cells for
the book). Submissions, autograded notebooks and feedback go to the usual nbgrader folders.
"""

c = get_config()  # noqa: F821  (injected by nbgrader)

c.CourseDirectory.root = "."
c.CourseDirectory.course_id = "lstm-course"
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "chapters"
c.CourseDirectory.submitted_directory = "submitted"
c.CourseDirectory.autograded_directory = "autograded"
c.CourseDirectory.feedback_directory = "feedback"
# SQLite in the course folder by default; `lstm-course grade --db-url postgresql://...` or
# this setting switch to PostgreSQL for several graders or a JupyterHub.
c.CourseDirectory.db_url = "sqlite:///gradebook.db"

# Every notebook runs in well under a minute; one cell may take at most 60 s.
c.ExecutePreprocessor.timeout = 60
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"

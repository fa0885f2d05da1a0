"""The instructor's wing: the command line, release, grading and performance measurement.

The only part of the package that imports nbgrader (tests/test_layout.py checks it)."""

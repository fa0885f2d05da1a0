"""Data generators: every data set of the course is made here, seeded, with no download."""

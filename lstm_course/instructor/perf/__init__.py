"""Performance measurement: the bench run (LSTM speed, notebook times, grading throughput) and its report."""

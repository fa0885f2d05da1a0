"""What helps a learner: checks whose messages name the mistake, claims bound to measurements,
plots, the cell diagram, timing of LSTM implementations."""

"""NumPy from first principles (chapters 1-5): the RNN, the LSTM cell and sequence, BPTT, gradient checks."""

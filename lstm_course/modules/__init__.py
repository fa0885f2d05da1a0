"""PyTorch modules (chapters 6, 10): the course LSTM (cell -> layer -> stack), its fused kernel, padded
and packed batches, the variants (peephole, CIFG, NFG, NOAF, GRU) and their parameter counts."""

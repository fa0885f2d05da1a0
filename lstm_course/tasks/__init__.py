"""Whole experiments a chapter runs: tagging, character language model, cell probing, ablation."""

"""The plotting helpers of Chapters 7 to 9 draw what they are given (without a display)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from lstm_course.teach.plots import plot_char_activations, plot_confusion_matrix, plot_curves


def test_plot_curves_draws_one_line_per_curve_plus_reference_lines_and_smooths():
    ax = plot_curves({"a": [4.0, 2.0, 0.0], "b": ([10, 20], [1.0, 3.0])}, smooth=2,
                     hlines={"ref": 1.0}, logy=False)
    lines = ax.get_lines()
    assert len(lines) == 3
    np.testing.assert_allclose(lines[0].get_ydata(), [4.0, 3.0, 1.0])
    np.testing.assert_allclose(lines[1].get_xdata(), [10, 20])
    plt.close("all")


def test_plot_confusion_matrix_annotates_nonzero_counts():
    ax = plot_confusion_matrix(np.array([[3, 1], [0, 2]]), ["NN", "V"])
    assert sorted(t.get_text() for t in ax.texts) == ["1", "2", "3"]
    plt.close("all")


def test_plot_char_activations_writes_every_character_and_marks_newlines():
    text = "ab\ncd"
    ax = plot_char_activations(text, np.linspace(-1, 1, len(text)), width=4)
    assert [t.get_text() for t in ax.texts] == ["a", "b", "\u21b5", "c", "d"]
    plt.close("all")


def test_lines_differ_in_dash_pattern_not_only_in_colour():
    """Colour is never the only cue: the course style gives each line its own dash pattern."""
    ax = plot_curves({name: [3.0, 2.0, 1.0, 0.5] for name in "abcdef"}, logy=False)
    lines = ax.get_lines()[:6]
    assert len({line.get_color() for line in lines}) == 6
    assert len({str(line._unscaled_dash_pattern) for line in lines}) == 6
    plt.close("all")

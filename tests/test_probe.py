"""Cell probing: text features and the search for the cell that follows one."""

from __future__ import annotations

import numpy as np

from lstm_course.tasks import probe


def test_line_position_counts_characters_since_the_last_newline():
    assert probe.line_position("ab\ncd\n\ne").tolist() == [0, 1, 2, 0, 1, 2, 0, 0]


def test_inside_quotes_includes_the_opening_quote_but_not_the_closing_one():
    assert probe.inside_quotes('a "bc" d').tolist() == [0, 0, 1, 1, 1, 0, 0, 0]


def test_cell_correlations_match_numpy_and_constant_cells_give_zero():
    rng = np.random.default_rng(0)
    feature = rng.standard_normal(200)
    cells = np.stack([feature * 2 + 1, -feature, rng.standard_normal(200), np.ones(200)], axis=1)
    r = probe.cell_correlations(cells, feature)
    np.testing.assert_allclose(r[:2], [1.0, -1.0], atol=1e-12)
    np.testing.assert_allclose(r[2], np.corrcoef(cells[:, 2], feature)[0, 1], atol=1e-12)
    assert r[3] == 0.0


def test_best_cell_picks_the_largest_absolute_correlation_and_keeps_its_sign():
    rng = np.random.default_rng(1)
    feature = rng.standard_normal(300)
    cells = np.stack([feature + rng.standard_normal(300), -feature + 0.1 * rng.standard_normal(300)], axis=1)
    k, r = probe.best_cell(cells, feature)
    assert k == 1 and r < -0.9

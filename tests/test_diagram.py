"""The cell diagram and the gate heatmap: every part can be highlighted, nothing overlaps."""

from __future__ import annotations

import itertools

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.colors import to_hex  # noqa: E402

from lstm_course.teach import diagram  # noqa: E402


def _texts(fig):
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    return [(t.get_text(), t.get_window_extent(renderer)) for t in fig.findobj(matplotlib.text.Text)
            if t.get_text() and t.get_visible()]


@pytest.mark.parametrize("highlight", [None, *diagram.PARTS])
def test_every_part_draws_without_overlapping_labels(highlight):
    fig = diagram.draw_lstm_cell(highlight)
    boxes = _texts(fig)
    labels = [text for text, _ in boxes]
    for needed in ["$c_{t-1}$", "$c_t$", "$h_{t-1}$", "$x_t$", "$f_t$", "$i_t$", r"$\tilde{c}_t$", "$o_t$"]:
        assert needed in labels
    for (a, box_a), (b, box_b) in itertools.combinations(boxes, 2):
        assert not box_a.overlaps(box_b), f"labels {a!r} and {b!r} overlap"
    plt.close(fig)


def _line_colours(fig):
    return {to_hex(line.get_color()) for line in fig.axes[0].get_lines()}


def test_highlight_colours_only_the_chosen_part_and_fades_the_rest():
    plain = diagram.draw_lstm_cell(None)
    assert diagram._HIGHLIGHT not in _line_colours(plain)
    forget = diagram.draw_lstm_cell("forget")
    lines = forget.axes[0].get_lines()
    strong = [ln for ln in lines if to_hex(ln.get_color()) == diagram._HIGHLIGHT]
    faded = [ln for ln in lines if ln.get_alpha() is not None and ln.get_alpha() < 1]
    assert strong and faded
    assert len(strong) < len(lines) / 2
    plt.close("all")


def test_several_parts_can_be_highlighted_together():
    one = diagram.draw_lstm_cell("input")
    two = diagram.draw_lstm_cell(("input", "candidate"))
    count = [sum(to_hex(ln.get_color()) == diagram._HIGHLIGHT for ln in f.axes[0].get_lines())
             for f in (one, two)]
    assert count[1] > count[0]
    plt.close("all")


def test_unknown_part_is_rejected_with_the_valid_names():
    with pytest.raises(ValueError, match="forget"):
        diagram.draw_lstm_cell("forgot")


def test_title_is_the_equation_of_the_highlighted_part_and_can_be_replaced():
    fig = diagram.draw_lstm_cell("output")
    assert "o_t" in fig.axes[0].get_title()
    fig = diagram.draw_lstm_cell("output", title="")
    assert fig.axes[0].get_title() == ""
    plt.close("all")


def test_draws_into_a_given_axes():
    fig, ax = plt.subplots()
    assert diagram.draw_lstm_cell("cell", ax=ax) is fig
    plt.close(fig)


def test_alt_text_describes_the_cell_and_names_the_highlighted_part():
    assert "cell state" in diagram.alt_text(None)
    for part in diagram.PARTS:
        text = diagram.alt_text(part)
        assert text.startswith(diagram.alt_text(None)) and "Highlighted" in text
    assert "forget gate" in diagram.alt_text("forget")
    assert "tanh" in diagram.alt_text("candidate")


def test_gate_heatmap_has_one_panel_per_gate_with_ranges_by_kind():
    T, H = 7, 3
    r = np.random.default_rng(0)
    panels = {"$f_t$": r.uniform(0, 1, (T, H)), "$c_t$": 3 * r.standard_normal((T, H))}
    fig = diagram.plot_gate_heatmap(panels, tokens=[f"w{t}" for t in range(T)],
                                    unit_labels=["a", "b", "c"])
    images = [im for ax in fig.axes for im in ax.get_images()]
    assert len(images) == 2
    assert images[0].get_clim() == (0.0, 1.0)
    lo, hi = images[1].get_clim()
    assert lo == -hi and hi == pytest.approx(np.abs(panels["$c_t$"]).max())
    assert [t.get_text() for t in fig.axes[1].get_xticklabels()] == [f"w{t}" for t in range(T)]
    fig = diagram.plot_gate_heatmap(panels, limits={"$c_t$": (-1.0, 1.0)})
    assert fig.axes[1].get_images()[0].get_clim() == (-1.0, 1.0)
    plt.close("all")


def _no_overlap(fig):
    boxes = _texts(fig)
    for (a, box_a), (b, box_b) in itertools.combinations(boxes, 2):
        assert not box_a.overlaps(box_b), f"labels {a!r} and {b!r} overlap"
    return [text for text, _ in boxes]


def test_rnn_cell_shows_its_inputs_its_one_layer_and_its_output_without_overlaps():
    fig = diagram.draw_rnn_cell()
    labels = _no_overlap(fig)
    for needed in ["$h_{t-1}$", "$x_t$", r"$\tanh$", "$h_t$", "$W_h, W_x, b$"]:
        assert needed in labels
    assert "tanh" in fig.axes[0].get_title()
    assert diagram.draw_rnn_cell(title="").axes[0].get_title() == ""
    plt.close("all")


@pytest.mark.parametrize("backward", [False, True])
@pytest.mark.parametrize("T", [3, 4, 8])
def test_unrolled_rnn_has_one_layer_per_step_and_no_overlapping_labels(T, backward):
    fig = diagram.draw_unrolled_rnn(T, backward=backward)
    labels = _no_overlap(fig)
    assert labels.count(r"$\tanh$") == T
    for k in range(1, T + 1):
        assert f"$x_{k}$" in labels and f"$h_{k}$" in labels
        assert (rf"$\times J_{k}$" in labels) == backward
    plt.close("all")


def test_backward_pass_is_dashed_and_highlighted_and_the_forward_pass_faded():
    forward = diagram.draw_unrolled_rnn(4)
    assert diagram._HIGHLIGHT not in _line_colours(forward)
    lines = diagram.draw_unrolled_rnn(4, backward=True).axes[0].get_lines()
    strong = [ln for ln in lines if to_hex(ln.get_color()) == diagram._HIGHLIGHT]
    assert strong and all(ln.get_linestyle() == "--" for ln in strong)   # not colour alone
    rest = [ln for ln in lines if ln not in strong]
    assert rest and all(ln.get_alpha() < 1 for ln in rest)
    plt.close("all")


def test_unrolled_rnn_rejects_a_length_that_does_not_fit_and_draws_into_a_given_axes():
    with pytest.raises(ValueError, match="between 3 and 8"):
        diagram.draw_unrolled_rnn(12)
    fig, ax = plt.subplots()
    assert diagram.draw_unrolled_rnn(3, ax=ax) is fig
    assert diagram.draw_rnn_cell(ax=ax) is fig
    plt.close("all")


def test_rnn_alt_texts_describe_the_pictures():
    assert "tanh layer" in diagram.rnn_cell_alt_text() and "h(t-1)" in diagram.rnn_cell_alt_text()
    plain = diagram.unrolled_rnn_alt_text(5)
    assert "5 steps" in plain and "h(5)" in plain and "dashed" not in plain
    both = diagram.unrolled_rnn_alt_text(5, backward=True)
    assert both.startswith(plain) and "dashed" in both and "Jacobian" in both

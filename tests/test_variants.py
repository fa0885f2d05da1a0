"""The LSTM variants and the GRU: each cell against PyTorch (float64) or an exact identity,
on the course's generic layer, with parameter counts checked against numel."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from lstm_course.data.store_recall import store_recall_batch
from lstm_course.modules import variants as V
from lstm_course.modules.lstm import LSTM, Layer
from lstm_course.modules.models import set_forget_bias
from lstm_course.modules.param_count import cell_parameters, count_parameters, parameter_count

F64 = torch.float64


def _inputs(batch=4, n_in=3, hidden=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(batch, n_in, generator=g, dtype=F64),
            torch.randn(batch, hidden, generator=g, dtype=F64),
            torch.randn(batch, hidden, generator=g, dtype=F64))


def _lstm_cell(n_in=3, hidden=5, seed=0):
    torch.manual_seed(seed)
    return nn.LSTMCell(n_in, hidden, dtype=F64)


def _variant_from(ref: nn.LSTMCell, name: str) -> V.LSTMVariantCell:
    """A variant cell holding ``ref``'s weights for the blocks it has (i, f, g, o rows of ref)."""
    cell = V.variant_cell(name)(ref.input_size, ref.hidden_size).double()
    blocks = {g: k for k, g in enumerate("ifgo")}
    H = ref.hidden_size
    rows = torch.cat([torch.arange(blocks[g] * H, (blocks[g] + 1) * H) for g in cell.variant.gates])
    with torch.no_grad():
        for name_ in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            getattr(cell, name_).copy_(getattr(ref, name_)[rows])
    return cell


def test_standard_cell_equals_nn_lstmcell_in_float64():
    ref = _lstm_cell()
    cell = V.variant_cell("lstm")(3, 5).double()
    V.copy_from_torch(cell, ref)
    x, h, c = _inputs()
    h_t, (h_state, c_t) = cell(x, (h, c))
    h_ref, c_ref = ref(x, (h, c))
    torch.testing.assert_close(h_t, h_ref, rtol=0, atol=1e-12)
    torch.testing.assert_close(c_t, c_ref, rtol=0, atol=1e-12)
    assert h_state is h_t


def test_peephole_cell_with_zero_peepholes_is_the_standard_lstm():
    ref = _lstm_cell(seed=1)
    cell = V.variant_cell("peephole")(3, 5).double()
    V.copy_from_torch(cell, ref)
    with torch.no_grad():
        cell.peepholes.zero_()
    x, h, c = _inputs(seed=1)
    h_t, (_, c_t) = cell(x, (h, c))
    h_ref, c_ref = ref(x, (h, c))
    torch.testing.assert_close(h_t, h_ref, rtol=0, atol=1e-12)
    torch.testing.assert_close(c_t, c_ref, rtol=0, atol=1e-12)


def test_peepholes_read_c_prev_for_input_and_forget_and_c_t_for_output():
    # With every weight and bias zero, the gates see only the cell state through the peepholes.
    cell = V.variant_cell("peephole")(2, 3).double()
    with torch.no_grad():
        for p in (cell.weight_ih, cell.weight_hh, cell.bias_ih, cell.bias_hh):
            p.zero_()
        cell.bias_ih[6:9] = torch.tensor([0.3, -0.2, 0.5], dtype=F64)  # the candidate block g
        cell.peepholes.copy_(torch.tensor([[0.5, -1.0, 2.0], [1.5, 0.2, -0.7], [-0.4, 0.9, 1.1]]))
    c_prev = torch.tensor([[1.0, -2.0, 0.5]], dtype=F64)
    x, h = torch.zeros(1, 2, dtype=F64), torch.zeros(1, 3, dtype=F64)
    w_ci, w_cf, w_co = cell.peepholes.detach()
    i = torch.sigmoid(w_ci * c_prev)
    f = torch.sigmoid(w_cf * c_prev)
    c_t = f * c_prev + i * torch.tanh(cell.bias_ih[6:9].detach())
    h_expected = torch.sigmoid(w_co * c_t) * torch.tanh(c_t)
    h_t, (_, c_got) = cell(x, (h, c_prev))
    torch.testing.assert_close(c_got, c_t, rtol=0, atol=1e-15)
    torch.testing.assert_close(h_t, h_expected, rtol=0, atol=1e-15)


def test_cifg_equals_an_lstm_whose_input_gate_is_the_negated_forget_gate():
    # sigmoid(-a) = 1 - sigmoid(a): an nn.LSTMCell with W_i = -W_f, b_i = -b_f is a CIFG cell.
    ref = _lstm_cell(seed=2)
    H = 5
    with torch.no_grad():
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            p = getattr(ref, name)
            p[:H] = -p[H:2 * H]
    cell = _variant_from(ref, "cifg")
    assert cell.variant.gates == "fgo" and cell.weight_ih.shape == (15, 3)
    x, h, c = _inputs(seed=2)
    h_t, (_, c_t) = cell(x, (h, c))
    h_ref, c_ref = ref(x, (h, c))
    torch.testing.assert_close(h_t, h_ref, rtol=0, atol=1e-12)
    torch.testing.assert_close(c_t, c_ref, rtol=0, atol=1e-12)


def test_no_forget_gate_equals_an_lstm_whose_forget_gate_is_stuck_at_one():
    ref = _lstm_cell(seed=3)
    H = 5
    with torch.no_grad():
        ref.weight_ih[H:2 * H] = 0.0
        ref.weight_hh[H:2 * H] = 0.0
        ref.bias_ih[H:2 * H] = 1000.0  # sigmoid(1000) == 1.0 exactly in float64
    cell = _variant_from(ref, "nfg")
    assert cell.variant.gates == "igo"
    x, h, c = _inputs(seed=3)
    h_t, (_, c_t) = cell(x, (h, c))
    h_ref, c_ref = ref(x, (h, c))
    torch.testing.assert_close(c_t, c_ref, rtol=0, atol=1e-12)
    torch.testing.assert_close(h_t, h_ref, rtol=0, atol=1e-12)


def test_no_output_activation_gives_o_times_c():
    ref = _lstm_cell(seed=4)
    cell = _variant_from(ref, "noaf")
    x, h, c = _inputs(seed=4)
    h_t, (_, c_t) = cell(x, (h, c))
    h_ref, c_ref = ref(x, (h, c))
    o = h_ref / torch.tanh(c_ref)
    torch.testing.assert_close(c_t, c_ref, rtol=0, atol=1e-12)
    torch.testing.assert_close(h_t, o * c_ref, rtol=1e-10, atol=1e-12)


def test_gru_cell_equals_nn_grucell_in_float64():
    torch.manual_seed(5)
    ref = nn.GRUCell(3, 5, dtype=F64)
    cell = V.GRUCell(3, 5).double()
    V.copy_from_torch(cell, ref)
    x, h, _ = _inputs(seed=5)
    h_t, (h_state,) = cell(x, (h,))
    torch.testing.assert_close(h_t, ref(x, h), rtol=0, atol=1e-12)
    assert h_state is h_t


@pytest.mark.parametrize("bias", [True, False])
def test_functional_steps_equal_the_cells(bias):
    x, h, c = _inputs(seed=6)
    for name in V.VARIANTS:
        cell = V.variant_cell(name)(3, 5, bias=bias).double()
        h_t, (_, c_t) = cell(x, (h, c))
        h_f, c_f = V.lstm_variant_step(x, h, c, cell.weight_ih, cell.weight_hh, cell.bias_ih,
                                       cell.bias_hh, cell.variant, cell.peepholes)
        torch.testing.assert_close(h_f, h_t, rtol=0, atol=1e-12)
        torch.testing.assert_close(c_f, c_t, rtol=0, atol=1e-12)
    gru = V.GRUCell(3, 5, bias=bias).double()
    h_gru = V.gru_step(x, h, gru.weight_ih, gru.weight_hh, gru.bias_ih, gru.bias_hh)
    torch.testing.assert_close(h_gru, gru(x, (h,))[0], rtol=0, atol=1e-12)


@pytest.mark.parametrize("name", V.CELL_NAMES)
def test_forward_is_step_of_the_input_projection(name):
    cell = V.variant_cell(name)(3, 5).double()
    x, h, c = _inputs(seed=7)
    state = (h, c)[: len(cell.init_state(4, F64, torch.device("cpu")))]
    direct, _ = cell(x, state)
    projected, _ = cell.step(cell.input_projection(x[None])[0], state)
    torch.testing.assert_close(direct, projected, rtol=0, atol=1e-12)


@pytest.mark.parametrize("name", V.CELL_NAMES)
def test_init_state_is_zeros_of_the_right_shape_and_count(name):
    cell = V.variant_cell(name)(3, 5)
    state = cell.init_state(2, F64, torch.device("cpu"))
    assert len(state) == (1 if name == "gru" else 2)
    assert all(s.shape == (2, 5) and s.dtype == F64 and not s.any() for s in state)


def test_variant_lstm_on_the_generic_stack_equals_nn_lstm():
    torch.manual_seed(8)
    ref = nn.LSTM(4, 6, num_layers=2, bidirectional=True, dtype=F64)
    ours = LSTM(4, 6, num_layers=2, bidirectional=True, cell=V.variant_cell("lstm"), dtype=F64)
    ours.load_torch_weights(ref)
    x = torch.randn(7, 3, 4, dtype=F64)
    out, (h_n, c_n) = ours(x)
    out_ref, (h_ref, c_ref) = ref(x)
    torch.testing.assert_close(out, out_ref, rtol=0, atol=1e-12)
    torch.testing.assert_close(h_n, h_ref, rtol=0, atol=1e-12)
    torch.testing.assert_close(c_n, c_ref, rtol=0, atol=1e-12)


def test_gru_on_the_generic_stack_equals_nn_gru():
    torch.manual_seed(9)
    ref = nn.GRU(4, 6, num_layers=2, bidirectional=True, dtype=F64)
    ours = LSTM(4, 6, num_layers=2, bidirectional=True, cell=V.GRUCell, dtype=F64)
    ours.load_torch_weights(ref)
    x = torch.randn(7, 3, 4, dtype=F64)
    h0 = torch.randn(4, 3, 6, dtype=F64)
    out, h_n = ours(x, h0)
    out_ref, h_ref = ref(x, h0)
    torch.testing.assert_close(out, out_ref, rtol=0, atol=1e-12)
    torch.testing.assert_close(h_n, h_ref, rtol=0, atol=1e-12)


@pytest.mark.parametrize("name", V.CELL_NAMES)
@pytest.mark.parametrize("num_layers,bidirectional,bias", [(1, False, True), (3, True, True),
                                                            (2, False, False), (2, True, False)])
def test_parameter_formula_matches_numel(name, num_layers, bidirectional, bias):
    model = LSTM(5, 7, num_layers, bias=bias, bidirectional=bidirectional, cell=V.variant_cell(name))
    assert parameter_count(name, 5, 7, num_layers, bidirectional, bias) == count_parameters(model)


@pytest.mark.parametrize("num_layers,bidirectional", [(1, False), (2, True), (3, False)])
def test_parameter_formula_matches_pytorch_lstm_and_gru(num_layers, bidirectional):
    for name, module in [("lstm", nn.LSTM), ("gru", nn.GRU)]:
        ref = module(5, 7, num_layers, bidirectional=bidirectional)
        assert parameter_count(name, 5, 7, num_layers, bidirectional) == count_parameters(ref)


def test_parameter_counts_relate_as_the_chapter_says():
    I, H = 10, 20
    lstm = cell_parameters("lstm", I, H)
    assert lstm == 4 * H * (I + H) + 8 * H
    assert cell_parameters("peephole", I, H) == lstm + 3 * H
    assert cell_parameters("noaf", I, H) == lstm
    for name in ("cifg", "nfg", "gru"):
        assert cell_parameters(name, I, H) * 4 == lstm * 3


def test_variant_rejects_coupling_without_a_forget_gate_and_unknown_names():
    with pytest.raises(ValueError):
        V.Variant("bad", coupled=True, forget_gate=False)
    with pytest.raises(ValueError, match="unknown cell"):
        V.variant_cell("lstn")


def test_set_forget_bias_sets_the_total_forget_bias_of_every_cell():
    model = LSTM(3, 4, num_layers=2, bidirectional=True, cell=V.variant_cell("cifg"))
    set_forget_bias(model, 1.0)
    for cell in model.cells():
        f_bias = (cell.bias_ih + cell.bias_hh)[:4]  # CIFG packs f, g, o
        torch.testing.assert_close(f_bias, torch.ones(4))
    standard = LSTM(3, 4)
    set_forget_bias(standard, 2.0)
    cell = standard.cells()[0]
    torch.testing.assert_close((cell.bias_ih + cell.bias_hh)[4:8], torch.full((4,), 2.0))
    with pytest.raises(ValueError, match="no forget-gate bias"):
        set_forget_bias(LSTM(3, 4, cell=V.variant_cell("nfg")), 1.0)


def test_state_trace_follows_the_layer_step_by_step():
    torch.manual_seed(10)
    layer = Layer(V.variant_cell("peephole")(3, 4))
    xs = torch.randn(6, 2, 3)
    trace = V.state_trace(layer, xs)
    assert trace.shape == (6, 2, 4)
    for T in (1, 4, 6):
        _, (_, c_T) = layer(xs[:T])
        torch.testing.assert_close(trace[T - 1], c_T)


def test_without_forget_gate_the_cell_state_grows_on_a_continual_stream():
    x, _ = store_recall_batch(600, 16, np.random.default_rng(0))
    xs = torch.from_numpy(x)
    size = {}
    for name in ("lstm", "nfg"):
        torch.manual_seed(0)
        c = V.state_trace(Layer(V.variant_cell(name)(5, 8)), xs).abs().mean(dim=(1, 2))
        size[name] = (float(c[99]), float(c[-1]))
    assert size["nfg"][1] > 4 * size["nfg"][0]          # keeps growing
    assert size["lstm"][1] < 1.5 * size["lstm"][0] + 0.1  # levels off
    assert size["nfg"][1] > 10 * size["lstm"][1]


def test_store_recall_targets_are_the_last_stored_symbol():
    x, y = store_recall_batch(50, 7, np.random.default_rng(1), n_symbols=3, p_store=0.3)
    assert x.shape == (50, 7, 4) and x.dtype == np.float32
    assert y.shape == (50, 7) and y.dtype == np.int64
    assert (x[0, :, 3] == 1).all()
    np.testing.assert_array_equal(x[..., :3].sum(-1), 1.0)
    for b in range(7):
        memory = None
        for t in range(50):
            if x[t, b, 3]:
                memory = int(x[t, b, :3].argmax())
            assert y[t, b] == memory


def test_store_recall_is_seeded_and_validates_arguments():
    a = store_recall_batch(10, 3, np.random.default_rng(2))
    b = store_recall_batch(10, 3, np.random.default_rng(2))
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    with pytest.raises(ValueError):
        store_recall_batch(0, 3, np.random.default_rng(0))
    with pytest.raises(ValueError):
        store_recall_batch(5, 3, np.random.default_rng(0), p_store=0.0)


def test_train_variant_runs_the_recipe_and_scores_on_fresh_sequences():
    from lstm_course.tasks.ablation import Recipe, train_variant

    recipe = Recipe(T=8, batch=8, steps=30, hidden_size=6, test_batch=50)
    run = train_variant("cifg", 0, recipe, forget_bias=1.0)
    assert len(run.train_losses) == 30 and np.isfinite(run.train_losses).all()
    assert run.train_losses[-1] < run.train_losses[0]
    assert 0.0 <= run.test_accuracy <= 1.0 and np.isfinite(run.test_loss)
    again = train_variant("cifg", 0, recipe, forget_bias=1.0)
    assert again.train_losses == run.train_losses  # seeded


def test_word_tagger_gives_log_probabilities_for_every_position():
    from lstm_course.tasks.ablation import WordTagger

    model = WordTagger(20, 5, 4, 6, cell="gru", num_layers=2, bidirectional=True, dropout=0.1)
    words = torch.randint(0, 20, (7, 3))
    out = model(words)
    assert out.shape == (7, 3, 5)
    torch.testing.assert_close(out.exp().sum(-1), torch.ones(7, 3))


def _random(shapes, seed):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(*s, generator=g, dtype=F64) for s in shapes]


def test_each_named_mistake_differs_from_the_reference_and_from_the_others():
    from lstm_course.teach import variant_checks as vc

    B, I, H = 3, 4, 5
    peep = _random([(B, I), (B, H), (B, H), (4 * H, I), (4 * H, H), (4 * H,), (4 * H,), (H,), (H,), (H,)], 0)
    cifg = _random([(B, I), (B, H), (B, H), (3 * H, I), (3 * H, H), (3 * H,), (3 * H,)], 1)
    gru = _random([(B, I), (B, H), (3 * H, I), (3 * H, H), (3 * H,), (3 * H,)], 2)
    cases = [
        (V.lstm_variant_step(*peep[:7], V.VARIANTS["peephole"], torch.stack(peep[7:]))[0],
         [h for h, _ in vc.peephole_mistakes(*peep).values()]),
        (V.lstm_variant_step(*cifg, V.VARIANTS["cifg"])[0], [h for h, _ in vc.cifg_mistakes(*cifg).values()]),
        (V.gru_step(*gru), list(vc.gru_mistakes(*gru).values())),
    ]
    for right, wrongs in cases:
        outputs = [right, *wrongs]
        for a in range(len(outputs)):
            for b in range(a + 1, len(outputs)):
                assert (outputs[a] - outputs[b]).abs().max() > 1e-3


def test_parameter_count_mistakes_only_lists_counts_that_differ():
    from lstm_course.teach.variant_checks import parameter_count_mistakes

    plain = parameter_count_mistakes("lstm", 3, 5)
    assert list(plain) == ["only one bias vector per gate block was counted; PyTorch has two (b_ih and b_hh)"]
    assert plain[next(iter(plain))] == parameter_count("lstm", 3, 5) - 4 * 5
    stacked = parameter_count_mistakes("peephole", 3, 5, 2, True)
    assert len(stacked) == 4
    assert parameter_count("peephole", 3, 5, 2, True) not in stacked.values()


def test_check_step_names_the_mistake_and_accepts_the_reference():
    from lstm_course.teach import checks
    from lstm_course.teach import variant_checks as vc

    args = _random([(2, 3), (2, 4), (2, 4), (12, 3), (12, 4), (12,), (12,)], 3)
    expected = V.lstm_variant_step(*args, V.VARIANTS["cifg"])
    mistakes = vc.cifg_mistakes(*args)
    vc.check_step("cifg_step", expected, expected, mistakes)
    wrong = mistakes["the input gate was set equal to f_t; coupling means i_t = 1 - f_t"]
    with pytest.raises(checks.CheckFailed, match="i_t = 1 - f_t"):
        vc.check_step("cifg_step", wrong, expected, mistakes)
    with pytest.raises(checks.CheckFailed, match="pair"):
        vc.check_step("cifg_step", expected[0], expected, mistakes)
    before = [a.clone() for a in args]
    args[2].mul_(2)
    with pytest.raises(checks.CheckFailed, match="c_prev after the call"):
        vc.check_inputs_unchanged(["x_t", "h_prev", "c_prev", "W_ih", "W_hh", "b_ih", "b_hh"], before, args)


def test_smooth_is_a_trailing_moving_average():
    from lstm_course.tasks.ablation import smooth

    np.testing.assert_allclose(smooth([2.0] * 7, window=3), 2.0)
    np.testing.assert_allclose(smooth([0.0, 3.0, 6.0, 9.0], window=2), [0.0, 1.5, 4.5, 7.5])


def test_summary_table_and_plot_report_every_variant():
    import matplotlib

    matplotlib.use("Agg")
    from lstm_course.tasks.ablation import Run, plot_ablation, summary_table

    runs = {name: [Run(None, [1.0, 0.5, 0.2], loss, 0.9) for loss in (0.1, 0.2, 0.3)]
            for name in ("standard LSTM", "GRU")}
    table = summary_table(runs, {"standard LSTM": 1472, "GRU": 1104})
    lines = table.splitlines()
    assert len(lines) == 3 and "loss mean" in lines[0]
    assert lines[1].split()[-6:] == ["1472", "0.200", "0.100", "0.100", "0.300", "0.900"]
    fig = plot_ablation(runs, title="test")
    assert len(fig.axes) == 2
    assert [t.get_text() for t in fig.axes[1].get_xticklabels()] == ["standard LSTM", "GRU"]


def test_word_tagger_packed_tags_a_sentence_the_same_alone_or_in_a_padded_batch():
    from lstm_course.tasks.ablation import WordTagger

    torch.manual_seed(0)
    lengths = torch.tensor([6, 2, 4])
    words = torch.randint(2, 20, (6, 3))
    for b, n in enumerate(lengths.tolist()):
        words[n:, b] = 0                                          # padding
    packed = WordTagger(20, 5, 4, 6, bidirectional=True, num_layers=2, packed=True).eval()
    unpacked = WordTagger(20, 5, 4, 6, bidirectional=True).eval()
    with torch.no_grad():
        batch = packed(words, lengths)
        batch_unpacked = unpacked(words)
        for b, n in enumerate(lengths.tolist()):
            alone = packed(words[:n, b:b + 1], lengths[b:b + 1])
            torch.testing.assert_close(batch[:n, b:b + 1], alone)
        short = unpacked(words[:2, 1:2])
    assert not torch.allclose(batch_unpacked[:2, 1:2], short)      # the backward direction read the padding
    with pytest.raises(ValueError, match="packed=True"):
        unpacked(words, lengths)
    with pytest.raises(ValueError, match="cell=None"):
        WordTagger(20, 5, cell="gru", packed=True)

"""A whole LSTM layer in one autograd node: a fast forward loop and a hand-written backward.

Why it is fast (Chapter 6 measures each point):

* one matrix product for all four gates, and the input projection of *all* time steps in one
  product before the loop (so the loop only multiplies by W_hh);
* the loop runs without autograd bookkeeping and writes into preallocated buffers;
* the backward pass is Chapter 5's BPTT (:mod:`lstm_course.numpy_lstm_backward`) in PyTorch:
  only the recurrence dL/dh_t, dL/dc_t is a loop; the weight gradient dL/dW_hh is one matrix
  product over all steps, and dL/dW_ih, dL/db, dL/dx come from autograd's backward of the
  projection (one product each).

Internally the gate blocks are ordered o, i, f, g (instead of PyTorch's i, f, g, o) so one
sigmoid covers o, i, f and one tanh covers g. :func:`lstm_sequence` takes and returns
PyTorch's layout; the reordering is part of the autograd graph.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.autograd.function import once_differentiable


def _oifg(w: Tensor) -> Tensor:
    """Reorder the gate blocks of a packed (4H, ...) weight or (4H,) bias from i, f, g, o to o, i, f, g."""
    H = w.shape[0] // 4
    return torch.cat((w[3 * H:], w[:3 * H]))


def lstm_sequence(xs: Tensor, state: tuple[Tensor, Tensor], weight_ih: Tensor, weight_hh: Tensor,
                  bias_ih: Tensor | None, bias_hh: Tensor | None) -> tuple[Tensor, tuple[Tensor, Tensor]]:
    """Run one LSTM layer (PyTorch's weights, gate order i, f, g, o) over xs: (T, batch, input).

    state = (h_0, c_0): (batch, H) each. Returns hs: (T, batch, H) and (h_T, c_T).
    Differentiable with respect to everything (once).
    """
    bias = None if bias_ih is None else _oifg(bias_ih + bias_hh)
    projected = F.linear(xs, _oifg(weight_ih), bias)  # (T, batch, 4H), all steps at once
    h0, c0 = state
    hs, c_T = _Recurrence.apply(projected, h0, c0, _oifg(weight_hh))
    return hs, (hs[-1], c_T)


class _Recurrence(torch.autograd.Function):
    """hs, c_T = recurrence(P, h_0, c_0, W_hh) with P = W_ih x_t + b precomputed, gates o, i, f, g."""

    @staticmethod
    def forward(ctx, P: Tensor, h0: Tensor, c0: Tensor, w_hh: Tensor):
        T, B, H4 = P.shape
        H = H4 // 4
        G = torch.empty_like(P)                  # gate activations o, i, f, g
        C = P.new_empty(T, B, H)                 # c_t
        TC = torch.empty_like(C)                 # tanh(c_t)
        Hs = torch.empty_like(C)                 # h_t
        w_t = w_hh.t()
        steps = zip(P.unbind(0), G.unbind(0), G[..., :3 * H].unbind(0), G[..., 3 * H:].unbind(0),
                    *(G[..., k * H:(k + 1) * H].unbind(0) for k in range(3)),
                    C.unbind(0), TC.unbind(0), Hs.unbind(0), strict=True)
        h, c = h0, c0
        for p_t, g_all, sig_t, tanh_t, o_t, i_t, f_t, c_out, tc_out, h_out in steps:
            torch.addmm(p_t, h, w_t, out=g_all)  # pre-activations of all four gates
            sig_t.sigmoid_()
            tanh_t.tanh_()                       # g_t = c~_t
            c = torch.mul(f_t, c, out=c_out).addcmul_(i_t, tanh_t)
            h = torch.mul(o_t, torch.tanh(c, out=tc_out), out=h_out)
        ctx.save_for_backward(h0, c0, w_hh, G, C, TC, Hs)
        return Hs, c.clone()

    @staticmethod
    @once_differentiable
    def backward(ctx, dHs: Tensor, dc_T: Tensor):
        h0, c0, w_hh, G, C, TC, Hs = ctx.saved_tensors
        T, B, H4 = G.shape
        H = H4 // 4
        o, i, f, g = G.split(H, dim=2)
        c_prev = torch.cat((c0.unsqueeze(0), C[:-1]))
        # Local derivatives, for all steps at once: dL/da_gate = (dL/dh or dL/dc) * K_gate.
        K = torch.empty_like(G)
        Ko, Ki, Kf, Kg = K.split(H, dim=2)
        torch.mul(TC, o * (1 - o), out=Ko)       # h = o tanh(c)
        torch.mul(g, i * (1 - i), out=Ki)        # c = f c_prev + i g
        torch.mul(c_prev, f * (1 - f), out=Kf)
        torch.mul(i, 1 - g * g, out=Kg)
        A = o * (1 - TC * TC)                    # dh_t/dc_t
        dG = torch.empty_like(G)
        dGs = dG.unbind(0)
        steps = list(zip(dHs.unbind(0), A.unbind(0), f.unbind(0), Ko.unbind(0),
                         K[..., H:].unflatten(-1, (3, H)).unbind(0), dG[..., :H].unbind(0),
                         dG[..., H:].unflatten(-1, (3, H)).unbind(0), strict=True))
        dc = dc_T
        for t in range(T - 1, -1, -1):
            dh_out, A_t, f_t, Ko_t, Kifg_t, dGo_t, dGifg_t = steps[t]
            dh = dh_out if t == T - 1 else torch.addmm(dh_out, dGs[t + 1], w_hh)
            dc = torch.addcmul(dc, dh, A_t)      # dL/dc_t: from c_{t+1} and from h_t
            torch.mul(dh, Ko_t, out=dGo_t)
            torch.mul(dc.unsqueeze(1), Kifg_t, out=dGifg_t)
            dc = dc * f_t                        # on to c_{t-1}: the constant error carousel
        h_prev = torch.cat((h0.unsqueeze(0), Hs[:-1]))
        dw_hh = dG.reshape(T * B, H4).t() @ h_prev.reshape(T * B, H)  # all steps, one product
        return dG, dGs[0] @ w_hh, dc, dw_hh

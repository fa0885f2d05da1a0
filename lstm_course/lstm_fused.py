"""A whole LSTM layer in one autograd node: a fast forward loop and a hand-written backward.

Why it is fast (Chapter 6 measures each point):

* one matrix product for all four gates, and the input projection of *all* time steps in one
  product before the loop (so the loop only multiplies by W_hh);
* the loop runs without autograd bookkeeping and writes into preallocated buffers;
* the backward pass is Chapter 5's BPTT (:mod:`lstm_course.numpy_lstm_backward`) in PyTorch:
  only the recurrence dL/dh_t, dL/dc_t is a loop; the local derivatives of all steps are
  computed at once, the weight gradient dL/dW_hh is one matrix product over all steps, and
  dL/dW_ih, dL/db, dL/dx come from autograd's backward of the projection (one product each).

Two tricks keep the loop short. The gate blocks are reordered o, i, f, g (PyTorch's order is
i, f, g, o), so the three sigmoid gates are adjacent. And the candidate's rows are doubled,
a' = 2 a_g, so that a *single* sigmoid covers all four gates: tanh(a_g) = 2 sigmoid(a') - 1
(a sigmoid is also several times cheaper than a tanh on the CPU). :func:`lstm_sequence` takes
and returns PyTorch's layout; the reordering and doubling are part of the autograd graph.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.autograd.function import once_differentiable


def _oifg(w: Tensor) -> Tensor:
    """Gate blocks of a packed (4H, ...) weight or (4H,) bias from i, f, g, o to o, i, f, 2g."""
    H = w.shape[0] // 4
    return torch.cat((w[3 * H:], w[:2 * H], 2 * w[2 * H:3 * H]))


def lstm_sequence(xs: Tensor, state: tuple[Tensor, Tensor], weight_ih: Tensor, weight_hh: Tensor,
                  bias_ih: Tensor | None, bias_hh: Tensor | None) -> tuple[Tensor, tuple[Tensor, Tensor]]:
    """Run one LSTM layer (PyTorch's weights, gate order i, f, g, o) over xs: (T, batch, input).

    state = (h_0, c_0): (batch, H) each. Returns hs: (T, batch, H) and (h_T, c_T).
    Differentiable with respect to everything (once).
    """
    bias = None if bias_ih is None else _oifg(bias_ih + bias_hh)
    projected = F.linear(xs, _oifg(weight_ih), bias)  # (T, batch, 4H), all steps at once
    h0, c0 = state
    hs, h_T, c_T = _Recurrence.apply(projected, h0, c0, _oifg(weight_hh))
    return hs, (h_T, c_T)


class _Recurrence(torch.autograd.Function):
    """hs, h_T, c_T = recurrence(P, h_0, c_0, W_hh), P = W_ih x_t + b precomputed, gates o, i, f, 2g."""

    @staticmethod
    def forward(ctx, P: Tensor, h0: Tensor, c0: Tensor, w_hh: Tensor):
        T, B, H4 = P.shape
        H = H4 // 4
        S = torch.empty_like(P)                  # sigmoids of the pre-activations: o, i, f, s_g
        C = P.new_empty(T, B, H)                 # c_t
        TC = torch.empty_like(C)                 # tanh(c_t)
        Hs = torch.empty_like(C)                 # h_t
        w_t = w_hh.t()
        steps = zip(P.unbind(0), S.unbind(0),
                    *(S[..., k * H:(k + 1) * H].unbind(0) for k in range(4)),
                    C.unbind(0), TC.unbind(0), Hs.unbind(0), strict=True)
        h, c = h0, c0
        for p_t, s_t, o_t, i_t, f_t, sg_t, c_out, tc_out, h_out in steps:
            torch.addmm(p_t, h, w_t, out=s_t).sigmoid_()   # all four gates: one product, one sigmoid
            # c_t = f c_{t-1} + i g with g = 2 s_g - 1, i.e. f c_{t-1} - i + 2 i s_g
            c = torch.mul(f_t, c, out=c_out).sub_(i_t).addcmul_(i_t, sg_t, value=2)
            h = torch.mul(o_t, torch.tanh(c, out=tc_out), out=h_out)
        ctx.save_for_backward(h0, c0, w_hh, S, C, TC, Hs)
        return Hs, h.clone(), c.clone()

    @staticmethod
    @once_differentiable
    def backward(ctx, dHs: Tensor, dh_T: Tensor, dc_T: Tensor):
        h0, c0, w_hh, S, C, TC, Hs = ctx.saved_tensors
        T, B, H4 = S.shape
        H = H4 // 4
        o, i, f, s_g = S.split(H, dim=2)
        g = 2 * s_g - 1
        # Local derivatives of all steps at once: dL/da = (dL/dh_t or dL/dc_t) * K.
        K = torch.addcmul(S, S, S, value=-1)     # s (1 - s) for every gate
        Ko, Ki, Kf, Kg = K.split(H, dim=2)
        Ko.mul_(TC)                              # h = o tanh(c)
        Ki.mul_(g)                               # c = f c_prev + i g
        Kf[1:].mul_(C[:-1])
        Kf[0].mul_(c0)
        Kg.mul_(2 * i)                           # dg/da' = 2 s_g (1 - s_g), with a' = 2 a_g
        A = torch.addcmul(o, o, TC * TC, value=-1)  # dh_t/dc_t = o (1 - tanh^2 c_t)
        dG, DH, DC = torch.empty_like(S), torch.empty_like(C), torch.empty_like(C)
        dGs = dG.unbind(0)
        steps = list(zip(dHs.unbind(0), A.unbind(0), f.unbind(0), Ko.unbind(0),
                         K[..., H:].unflatten(-1, (3, H)).unbind(0), dG[..., :H].unbind(0),
                         dG[..., H:].unflatten(-1, (3, H)).unbind(0), DH.unbind(0),
                         DC.unbind(0), DC.unsqueeze(2).unbind(0), strict=True))
        dc = dc_T
        for t in range(T - 1, -1, -1):
            dh_out, A_t, f_t, Ko_t, Kifg_t, dGo_t, dGifg_t, dh, dc_t, dc_t3 = steps[t]
            if t == T - 1:
                torch.add(dh_out, dh_T, out=dh)
            else:
                torch.addmm(dh_out, dGs[t + 1], w_hh, out=dh)   # dL/dh_t: output + from step t+1
            torch.addcmul(dc, dh, A_t, out=dc_t)               # dL/dc_t: from c_{t+1} and h_t
            torch.mul(dh, Ko_t, out=dGo_t)
            torch.mul(dc_t3, Kifg_t, out=dGifg_t)
            dc = dc_t * f_t                                     # to c_{t-1}: the constant error carousel
        dw_hh = dG[0].t() @ h0                                  # all steps in (at most) two products
        if T > 1:
            dw_hh.addmm_(dG[1:].reshape((T - 1) * B, H4).t(), Hs[:-1].reshape((T - 1) * B, H))
        return dG, dGs[0] @ w_hh, dc, dw_hh

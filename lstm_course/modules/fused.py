"""A whole LSTM layer in one autograd node: a fast forward loop and a hand-written backward.

Why it is fast (Chapter 6 measures each point):

* one matrix product for all four gates, and the input projection of *all* time steps in one
  product before the loop (so the loop only multiplies by W_hh);
* the loop runs without autograd bookkeeping, in place, in a few preallocated buffers (on the
  CPU a fresh large tensor costs a page fault per 4 KiB page the first time it is written);
* the backward pass is Chapter 5's BPTT (:mod:`lstm_course.scratch.bptt`) in PyTorch:
  only the recurrence dL/dh_t, dL/dc_t is a loop; the local derivatives of all steps are
  computed at once, and the weight gradients dW_ih, dW_hh, db and the input gradient dx are
  single matrix products (or sums) over all steps.

Two tricks keep the loop short. The gate blocks are reordered o, i, f, g (PyTorch's order is
i, f, g, o), so the three sigmoid gates are adjacent. And the candidate's rows are doubled,
a' = 2 a_g, so that a *single* sigmoid covers all four gates: tanh(a_g) = 2 sigmoid(a') - 1
(a sigmoid is also several times cheaper than a tanh on the CPU). :func:`lstm_sequence` takes
and returns PyTorch's layout; the reordering and doubling are part of the autograd graph.
"""

from __future__ import annotations

import torch
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
    h0, c0 = state
    hs, h_T, c_T = _LSTMSequence.apply(xs, h0, c0, _oifg(weight_ih), _oifg(weight_hh), bias)
    return hs, (h_T, c_T)


class _LSTMSequence(torch.autograd.Function):
    """hs, h_T, c_T from xs, h_0, c_0 and weights in the internal gate order o, i, f, 2g."""

    @staticmethod
    def forward(ctx, xs: Tensor, h0: Tensor, c0: Tensor, w_ih: Tensor, w_hh: Tensor,
                bias: Tensor | None):
        T, B, I = xs.shape
        H = w_hh.shape[1]
        flat = xs.reshape(T * B, I)
        # The input part of every gate for every step at once; the loop adds W_hh h_{t-1} in place.
        S = (flat @ w_ih.t() if bias is None else torch.addmm(bias, flat, w_ih.t())).view(T, B, 4 * H)
        C = xs.new_empty(T, B, H)                # c_t
        TC = torch.empty_like(C)                 # tanh(c_t)
        Hs = torch.empty_like(C)                 # h_t
        w_t = w_hh.t()
        steps = zip(S.unbind(0), *(S[..., k * H:(k + 1) * H].unbind(0) for k in range(4)),
                    C.unbind(0), TC.unbind(0), Hs.unbind(0), strict=True)
        h, c = h0, c0
        for s_t, o_t, i_t, f_t, sg_t, c_out, tc_out, h_out in steps:
            s_t.addmm_(h, w_t).sigmoid_()        # all four gates: one product, one sigmoid
            # c_t = f c_{t-1} + i g with g = 2 s_g - 1, i.e. f c_{t-1} - i + 2 i s_g
            c = torch.mul(f_t, c, out=c_out).sub_(i_t).addcmul_(i_t, sg_t, value=2)
            h = torch.mul(o_t, torch.tanh(c, out=tc_out), out=h_out)
        ctx.save_for_backward(xs, h0, c0, w_ih, w_hh, S, C, TC, Hs)
        ctx.has_bias = bias is not None
        return Hs, h.clone(), c.clone()

    @staticmethod
    @once_differentiable
    def backward(ctx, dHs: Tensor, dh_T: Tensor, dc_T: Tensor):
        xs, h0, c0, w_ih, w_hh, S, C, TC, Hs = ctx.saved_tensors
        T, B, H4 = S.shape
        H = H4 // 4
        o, i, f, s_g = S.split(H, dim=2)
        # Local derivatives of all steps at once, dL/da = (dL/dh_t or dL/dc_t) * K; K is then
        # multiplied in place, step by step, into dG = dL/da (one buffer for both).
        dG = torch.addcmul(S, S, S, value=-1)    # s (1 - s) for every gate
        Ko, Ki, Kf, Kg = dG.split(H, dim=2)
        A = torch.mul(s_g, 2, out=torch.empty_like(C)).sub_(1)   # g = 2 s_g - 1
        Ko.mul_(TC)                              # h = o tanh(c)
        Ki.mul_(A)                               # c = f c_prev + i g
        Kf[1:].mul_(C[:-1])
        Kf[0].mul_(c0)
        Kg.mul_(i).mul_(2)                       # dg/da' = 2 s_g (1 - s_g), with a' = 2 a_g
        torch.mul(TC, TC, out=A)
        torch.addcmul(o, o, A, value=-1, out=A)  # A = dh_t/dc_t = o (1 - tanh^2 c_t)
        dh = torch.empty_like(h0)
        dGs = dG.unbind(0)
        steps = list(zip(dHs.unbind(0), A.unbind(0), A.unsqueeze(2).unbind(0), f.unbind(0),
                         Ko.unbind(0), dG[..., H:].unflatten(-1, (3, H)).unbind(0), strict=True))
        dc = dc_T
        for t in range(T - 1, -1, -1):
            dh_out, A_t, dc_t3, f_t, dGo_t, dGifg_t = steps[t]
            if t == T - 1:
                torch.add(dh_out, dh_T, out=dh)
            else:
                torch.addmm(dh_out, dGs[t + 1], w_hh, out=dh)    # dL/dh_t: output + from step t+1
            dc_t = torch.addcmul(dc, dh, A_t, out=A_t)          # dL/dc_t: from c_{t+1} and h_t
            dGo_t.mul_(dh)
            dGifg_t.mul_(dc_t3)
            dc = dc_t * f_t                                     # to c_{t-1}: the constant error carousel
        flat = dG.view(T * B, H4)
        dxs = flat @ w_ih
        dw_ih = flat.t() @ xs.reshape(T * B, -1)                # all steps in one product
        dw_hh = dGs[0].t() @ h0
        if T > 1:
            dw_hh.addmm_(dG[1:].reshape((T - 1) * B, H4).t(), Hs[:-1].reshape((T - 1) * B, H))
        db = flat.sum(0) if ctx.has_bias else None
        return dxs.view(T, B, -1), dGs[0] @ w_hh, dc, dw_ih, dw_hh, db

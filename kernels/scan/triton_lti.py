"""Triton kernels of the time-invariant scan: Δ of shape (d,) and B, C given by their per-channel biases only.

With Ā, B̄, C̃ the same at every step, channel c's scan is a causal convolution, and in chunks of ``T`` steps it
becomes matrix products (the operators are built by ``kernels/scan/lti.py``). For the chunks q of one channel and
batch row, taken ``GC`` at a time as the rows of a ``[GC, T]`` tile ``U`` (row q holds steps q·T … q·T + T − 1):

    F_q = P·F_{q−1} + U_q·W              state after chunk q      (W[k] = Ā^{T−1−k} B̄, P = Ā^T, F_{−1} = h0)
    E_q = F_{q−1}                        state entering chunk q   (a shift of F's rows: one product with a 0/1 matrix)
    Y_q = U_q·Toepᵀ + Re(E_q·V) + D·U_q  (Toepᵀ[k, t] = K[t − k], the first T taps; V[:, t] = κ C̃ Ā^{t+1})

The recurrence over the rows is one ``tl.associative_scan`` along the tile's first axis, its carry passes from
group to group; every product with W, V, Toep is a ``tl.dot``. Nothing of size (b, L, d, n) exists, and the work
per element is 2T + 9n multiply-adds (complex n) instead of an exponential and a scan step per state.

The backward recomputes F and E per group from the carries the forward kept (one state per ``GC·T`` steps),
walking the groups from last to first: with G_q = ∂/∂F_q, the adjoint recurrence G_q = ∂F_q + conj(P)·G_{q+1} is a
reversed scan, and ∂U, ∂Toep, ∂W, ∂V, ∂P, ∂D follow as products (formulas in ``benchmarks/README.md``). A program
owns one channel and ``BATCH`` batch rows and writes one partial sum per operator, summed on the host. Complex
tensors travel as ``torch.view_as_real`` (…, 2) float32 pairs.
"""

from __future__ import annotations

import triton
import triton.language as tl

from kernels.scan.triton_fwd import _combine_complex, _combine_real


@triton.jit
def _load_pair(ptr, offsets, mask, IS_COMPLEX: tl.constexpr):
    """(real, imaginary) parts at element ``offsets`` of a float32 tensor, (…, 2) pairs when complex."""
    if IS_COMPLEX:
        return tl.load(ptr + 2 * offsets, mask=mask, other=0.0), tl.load(ptr + 2 * offsets + 1, mask=mask, other=0.0)
    else:
        re = tl.load(ptr + offsets, mask=mask, other=0.0)
        return re, re


@triton.jit
def _store_pair(ptr, offsets, re, im, mask, IS_COMPLEX: tl.constexpr):
    if IS_COMPLEX:
        tl.store(ptr + 2 * offsets, re, mask=mask)
        tl.store(ptr + 2 * offsets + 1, im, mask=mask)
    else:
        tl.store(ptr + offsets, re, mask=mask)


@triton.jit
def _load_operators(p_toep, p_w, p_v, p_p, c, n, o_t, o_n, m_n, T: tl.constexpr, IS_COMPLEX: tl.constexpr):
    """Channel c's operators: Toepᵀ [T, T], W [T, BN] and V [BN, T] (real, imaginary), P [BN] (real, imaginary);
    states past n read as 0."""
    toep = tl.load(p_toep + c * T * T + o_t[:, None] * T + o_t[None, :])
    w_re, w_im = _load_pair(p_w, c * T * n + o_t[:, None] * n + o_n[None, :], m_n[None, :], IS_COMPLEX)
    v_re, v_im = _load_pair(p_v, c * n * T + o_n[:, None] * T + o_t[None, :], m_n[:, None], IS_COMPLEX)
    p_re, p_im = _load_pair(p_p, c * n + o_n, m_n, IS_COMPLEX)
    return toep, w_re, w_im, v_re, v_im, p_re, p_im


@triton.jit
def _row(x, rows, j):
    """Row ``j`` of a [GC, N] tile, as an [N] vector."""
    return tl.sum(tl.where((rows == j)[:, None], x, 0.0), 0)


@triton.jit
def _group_states(U, w_re, w_im, p_re, p_im, h_re, h_im, shift, rows,
                  GC: tl.constexpr, BN: tl.constexpr, IS_COMPLEX: tl.constexpr, PREC: tl.constexpr):  # fmt: skip
    """States after (F) and entering (E) each chunk of a group, [GC, BN] tiles, from the state ``h`` before it."""
    zeros = tl.zeros([GC, BN], tl.float32)
    s_re = tl.dot(U, w_re, input_precision=PREC)
    if IS_COMPLEX:
        s_im = tl.dot(U, w_im, input_precision=PREC)
        a_re, a_im, f_re, f_im = tl.associative_scan(
            (zeros + p_re[None, :], zeros + p_im[None, :], s_re, s_im), 0, _combine_complex
        )
        f_re, f_im = (f_re + a_re * h_re[None, :] - a_im * h_im[None, :],
                      f_im + a_re * h_im[None, :] + a_im * h_re[None, :])  # fmt: skip
        first = (rows == 0)[:, None]
        e_re = tl.dot(shift, f_re, input_precision=PREC) + tl.where(first, h_re[None, :], 0.0)
        e_im = tl.dot(shift, f_im, input_precision=PREC) + tl.where(first, h_im[None, :], 0.0)
    else:
        a_re, f_re = tl.associative_scan((zeros + p_re[None, :], s_re), 0, _combine_real)
        f_re += a_re * h_re[None, :]
        e_re = tl.dot(shift, f_re, input_precision=PREC) + tl.where((rows == 0)[:, None], h_re[None, :], 0.0)
        f_im, e_im = f_re, e_re
    return f_re, f_im, e_re, e_im


@triton.jit
def _lti_fwd_kernel(
    p_u, p_y, p_z, p_ypre, p_toep, p_w, p_v, p_p, p_D, p_ck, p_elast,
    batch, L, n, n_chunks, n_groups, s_ub, s_uc, s_ul, s_yb, s_yc, s_yl,
    T: tl.constexpr, GC: tl.constexpr, BN: tl.constexpr, BATCH: tl.constexpr,
    IS_COMPLEX: tl.constexpr, HAS_D: tl.constexpr, HAS_Z: tl.constexpr, PREC: tl.constexpr,
):  # fmt: skip
    """y and the group carries of one channel (program axis 0) for ``BATCH`` batch rows (axis 1).

    ``p_ck`` (b, d, n_groups, n[, 2]) holds the initial state in group slot 0 on entry and receives the state
    before every later group; ``p_elast`` (b, d, n[, 2]) receives the state entering the last chunk. With ``HAS_Z``
    y is gated by silu(z) here and the ungated output goes to ``p_ypre`` (float32, for the backward); z and y_pre
    share y's strides."""
    c = tl.program_id(0)
    d = tl.num_programs(0)
    rows = tl.arange(0, GC)
    o_t = tl.arange(0, T)
    o_n = tl.arange(0, BN)
    m_n = o_n < n
    shift = (rows[None, :] == rows[:, None] - 1).to(tl.float32)  # (shift @ F)[q] = F[q − 1]
    toep, w_re, w_im, v_re, v_im, p_re, p_im = _load_operators(p_toep, p_w, p_v, p_p, c, n, o_t, o_n, m_n, T,
                                                                IS_COMPLEX)  # fmt: skip
    for i in range(BATCH):
        bb = tl.program_id(1) * BATCH + i
        if bb < batch:
            o_state = (bb * d + c).to(tl.int64) * n_groups * n + o_n
            h_re, h_im = _load_pair(p_ck, o_state, m_n, IS_COMPLEX)
            e_last_re = tl.zeros([BN], tl.float32)
            e_last_im = tl.zeros([BN], tl.float32)
            p_row_u = p_u + bb.to(tl.int64) * s_ub + c.to(tl.int64) * s_uc
            o_row_y = bb.to(tl.int64) * s_yb + c.to(tl.int64) * s_yc
            for g in range(n_groups):
                _store_pair(p_ck, o_state + g * n, h_re, h_im, m_n, IS_COMPLEX)
                q = g * GC + rows
                tau = (q[:, None] * T + o_t[None, :]).to(tl.int64)
                m = tau < L
                U = tl.load(p_row_u + tau * s_ul, mask=m, other=0.0).to(tl.float32)
                f_re, f_im, e_re, e_im = _group_states(U, w_re, w_im, p_re, p_im, h_re, h_im, shift, rows, GC, BN,
                                                       IS_COMPLEX, PREC)  # fmt: skip
                Y = tl.dot(U, toep, input_precision=PREC) + tl.dot(e_re, v_re, input_precision=PREC)
                if IS_COMPLEX:
                    Y -= tl.dot(e_im, v_im, input_precision=PREC)
                if HAS_D:
                    Y += tl.load(p_D + c).to(tl.float32) * U
                if HAS_Z:
                    tl.store(p_ypre + o_row_y + tau * s_yl, Y, mask=m)
                    Z = tl.load(p_z + o_row_y + tau * s_yl, mask=m, other=0.0).to(tl.float32)
                    Y = Y * Z * tl.sigmoid(Z)
                tl.store(p_y + o_row_y + tau * s_yl, Y.to(p_y.dtype.element_ty), mask=m)
                e_last_re += _row(e_re, q, n_chunks - 1)
                h_re = _row(f_re, rows, GC - 1)
                if IS_COMPLEX:
                    e_last_im += _row(e_im, q, n_chunks - 1)
                    h_im = _row(f_im, rows, GC - 1)
            _store_pair(p_elast, (bb * d + c).to(tl.int64) * n + o_n, e_last_re, e_last_im, m_n, IS_COMPLEX)


@triton.jit
def _lti_bwd_kernel(
    p_u, p_dy, p_du, p_z, p_ypre, p_dz, p_toep, p_w, p_v, p_p, p_D, p_ck, p_delast,
    p_dtoep, p_dw, p_dv, p_dp, p_dD, p_dh0,
    batch, L, n, n_chunks, n_groups, s_ub, s_uc, s_ul, s_gb, s_gc, s_gl,
    T: tl.constexpr, GC: tl.constexpr, BN: tl.constexpr, BATCH: tl.constexpr,
    IS_COMPLEX: tl.constexpr, HAS_D: tl.constexpr, HAS_Z: tl.constexpr, PREC: tl.constexpr,
):  # fmt: skip
    """Gradients of one channel (program axis 0) over ``BATCH`` batch rows (axis 1): ∂u and ∂h0 per row, and one
    partial sum of ∂Toepᵀ, ∂W, ∂V, ∂P, ∂D per program. ``p_dy``, ``p_du`` and with ``HAS_Z`` the gate's ``p_z``,
    ``p_ypre`` (the forward's ungated output) and ``p_dz`` share the strides ``s_g*``; ``p_delast`` is the gradient
    of the state entering the last chunk."""
    c = tl.program_id(0)
    d = tl.num_programs(0)
    pb = tl.program_id(1)
    rows = tl.arange(0, GC)
    o_t = tl.arange(0, T)
    o_n = tl.arange(0, BN)
    m_n = o_n < n
    shift = (rows[None, :] == rows[:, None] - 1).to(tl.float32)
    shift_t = (rows[None, :] == rows[:, None] + 1).to(tl.float32)  # (shift_t @ dE)[q] = dE[q + 1]
    toep, w_re, w_im, v_re, v_im, p_re, p_im = _load_operators(p_toep, p_w, p_v, p_p, c, n, o_t, o_n, m_n, T,
                                                                IS_COMPLEX)  # fmt: skip
    acc_toep = tl.zeros([T, T], tl.float32)
    acc_w_re = tl.zeros([T, BN], tl.float32)
    acc_w_im = tl.zeros([T, BN], tl.float32)
    acc_v_re = tl.zeros([BN, T], tl.float32)
    acc_v_im = tl.zeros([BN, T], tl.float32)
    acc_p_re = tl.zeros([BN], tl.float32)
    acc_p_im = tl.zeros([BN], tl.float32)
    acc_D = tl.zeros([T], tl.float32)
    zeros = tl.zeros([GC, BN], tl.float32)
    for i in range(BATCH):
        bb = pb * BATCH + i
        if bb < batch:
            o_row_state = (bb * d + c).to(tl.int64) * n + o_n
            o_state = (bb * d + c).to(tl.int64) * n_groups * n + o_n
            seed_re, seed_im = _load_pair(p_delast, o_row_state, m_n, IS_COMPLEX)
            dh_re = tl.zeros([BN], tl.float32)  # ∂ of the state before the group just done (its right neighbour)
            dh_im = tl.zeros([BN], tl.float32)
            p_row_u = p_u + bb.to(tl.int64) * s_ub + c.to(tl.int64) * s_uc
            o_row_g = bb.to(tl.int64) * s_gb + c.to(tl.int64) * s_gc
            for gg in range(n_groups):
                g = n_groups - 1 - gg
                h_re, h_im = _load_pair(p_ck, o_state + g * n, m_n, IS_COMPLEX)
                q = g * GC + rows
                tau = (q[:, None] * T + o_t[None, :]).to(tl.int64)
                m = tau < L
                U = tl.load(p_row_u + tau * s_ul, mask=m, other=0.0).to(tl.float32)
                dY = tl.load(p_dy + o_row_g + tau * s_gl, mask=m, other=0.0).to(tl.float32)
                if HAS_Z:  # y = y_pre · silu(z): ∂z = ∂y · y_pre · σ(z)(1 + z(1 − σ(z))), ∂y_pre = ∂y · silu(z)
                    Z = tl.load(p_z + o_row_g + tau * s_gl, mask=m, other=0.0).to(tl.float32)
                    sig = tl.sigmoid(Z)
                    Y_pre = tl.load(p_ypre + o_row_g + tau * s_gl, mask=m, other=0.0)
                    dZ = dY * Y_pre * sig * (1.0 + Z * (1.0 - sig))
                    tl.store(p_dz + o_row_g + tau * s_gl, dZ.to(p_dz.dtype.element_ty), mask=m)
                    dY = dY * Z * sig
                f_re, f_im, e_re, e_im = _group_states(U, w_re, w_im, p_re, p_im, h_re, h_im, shift, rows, GC, BN,
                                                       IS_COMPLEX, PREC)  # fmt: skip
                U_t = tl.trans(U)
                dU = tl.dot(dY, tl.trans(toep), input_precision=PREC)
                acc_toep += tl.dot(U_t, dY, input_precision=PREC)
                if HAS_D:
                    dU += tl.load(p_D + c).to(tl.float32) * dY
                    acc_D += tl.sum(dY * U, 0)
                last = (q == n_chunks - 1)[:, None]
                end = (rows == GC - 1)[:, None]
                de_re = tl.dot(dY, tl.trans(v_re), input_precision=PREC) + tl.where(last, seed_re[None, :], 0.0)
                acc_v_re += tl.dot(tl.trans(e_re), dY, input_precision=PREC)
                df_re = tl.dot(shift_t, de_re, input_precision=PREC) + tl.where(end, dh_re[None, :], 0.0)
                if IS_COMPLEX:
                    de_im = tl.where(last, seed_im[None, :], 0.0) - tl.dot(dY, tl.trans(v_im), input_precision=PREC)
                    acc_v_im -= tl.dot(tl.trans(e_im), dY, input_precision=PREC)
                    df_im = tl.dot(shift_t, de_im, input_precision=PREC) + tl.where(end, dh_im[None, :], 0.0)
                    _, _, g_re, g_im = tl.associative_scan(
                        (zeros + p_re[None, :], zeros - p_im[None, :], df_re, df_im), 0, _combine_complex, reverse=True
                    )  # fmt: skip
                    dU += tl.dot(g_re, tl.trans(w_re), input_precision=PREC)
                    dU += tl.dot(g_im, tl.trans(w_im), input_precision=PREC)
                    acc_w_re += tl.dot(U_t, g_re, input_precision=PREC)
                    acc_w_im += tl.dot(U_t, g_im, input_precision=PREC)
                    acc_p_re += tl.sum(g_re * e_re + g_im * e_im, 0)
                    acc_p_im += tl.sum(g_im * e_re - g_re * e_im, 0)
                    g0_re, g0_im = _row(g_re, rows, 0), _row(g_im, rows, 0)
                    dh_re = _row(de_re, rows, 0) + p_re * g0_re + p_im * g0_im
                    dh_im = _row(de_im, rows, 0) + p_re * g0_im - p_im * g0_re
                else:
                    _, g_re = tl.associative_scan((zeros + p_re[None, :], df_re), 0, _combine_real, reverse=True)
                    dU += tl.dot(g_re, tl.trans(w_re), input_precision=PREC)
                    acc_w_re += tl.dot(U_t, g_re, input_precision=PREC)
                    acc_p_re += tl.sum(g_re * e_re, 0)
                    dh_re = _row(de_re, rows, 0) + p_re * _row(g_re, rows, 0)
                tl.store(p_du + o_row_g + tau * s_gl, dU.to(p_du.dtype.element_ty), mask=m)
            _store_pair(p_dh0, o_row_state, dh_re, dh_im, m_n, IS_COMPLEX)
    o_part = (pb * d + c).to(tl.int64)
    tl.store(p_dtoep + o_part * T * T + o_t[:, None] * T + o_t[None, :], acc_toep)
    _store_pair(p_dw, o_part * T * n + o_t[:, None] * n + o_n[None, :], acc_w_re, acc_w_im, m_n[None, :], IS_COMPLEX)
    _store_pair(p_dv, o_part * n * T + o_n[:, None] * T + o_t[None, :], acc_v_re, acc_v_im, m_n[:, None], IS_COMPLEX)
    _store_pair(p_dp, o_part * n + o_n, acc_p_re, acc_p_im, m_n, IS_COMPLEX)
    if HAS_D:
        tl.store(p_dD + o_part, tl.sum(acc_D, 0))


def _strides(x):
    """(batch, channel, time) strides of a (b, L, d) tensor."""
    return x.stride(0), x.stride(2), x.stride(1)


def _same_strides(x, *others):
    """(batch, channel, time) strides of x, which the tensors ``others`` (None for absent ones) must share (where
    their sizes are above 1: a size-1 axis's stride is never used)."""

    def used(t):
        return [s if size > 1 else None for s, size in zip(t.stride(), t.shape, strict=True)]

    if any(o is not None and used(o) != used(x) for o in others):
        raise ValueError("time-invariant scan: the gate z and the outputs must be laid out like y / dy")
    return _strides(x)


def launch_lti_forward(u, y, z, y_pre, toep, w, v, p, D, ck, e_last, n, n_chunks, n_groups, cfg, is_complex):
    """``z``, ``y_pre``: the gate and the ungated output's buffer, laid out like y (both None without a gate)."""
    b, L, d = u.shape
    _lti_fwd_kernel[(d, triton.cdiv(b, cfg.fwd_batch))](
        u, y, z, y_pre, toep, w, v, p, D, ck, e_last, b, L, n, n_chunks, n_groups, *_strides(u),
        *_same_strides(y, z, y_pre), T=cfg.tile, GC=cfg.group, BN=cfg.block_n, BATCH=cfg.fwd_batch,
        IS_COMPLEX=is_complex, HAS_D=D is not None, HAS_Z=z is not None, PREC=cfg.precision, num_warps=cfg.num_warps,
    )  # fmt: skip


def launch_lti_backward(u, dy, du, z, y_pre, dz, toep, w, v, p, D, ck, de_last, parts, dh0, n, n_chunks, n_groups,
                        cfg, is_complex):  # fmt: skip
    """``parts`` = (∂Toepᵀ, ∂W, ∂V, ∂P, ∂D) partial-sum buffers with a leading axis of ⌈b / bwd_batch⌉; ``z``,
    ``y_pre``, ``dz`` laid out like dy (None without a gate)."""
    b, L, d = u.shape
    _lti_bwd_kernel[(d, triton.cdiv(b, cfg.bwd_batch))](
        u, dy, du, z, y_pre, dz, toep, w, v, p, D, ck, de_last, *parts, dh0, b, L, n, n_chunks, n_groups,
        *_strides(u), *_same_strides(dy, du, z, y_pre, dz), T=cfg.tile, GC=cfg.group, BN=cfg.block_n,
        BATCH=cfg.bwd_batch, IS_COMPLEX=is_complex, HAS_D=D is not None, HAS_Z=z is not None, PREC=cfg.precision,
        num_warps=cfg.bwd_num_warps,
    )  # fmt: skip

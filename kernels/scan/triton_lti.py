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

from kernels.scan.triton_fwd import _combine_complex, _combine_real, _expm1


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
    batch, L, n, n_chunks, n_groups, s_ub, s_uc, s_ul, s_gb, s_gc, s_gl, PW,
    T: tl.constexpr, GC: tl.constexpr, BN: tl.constexpr, BATCH: tl.constexpr,
    IS_COMPLEX: tl.constexpr, HAS_D: tl.constexpr, HAS_Z: tl.constexpr, PREC: tl.constexpr,
):  # fmt: skip
    """Gradients of one channel (program axis 0) over ``BATCH`` batch rows (axis 1): ∂u and ∂h0 per row, and one
    partial sum of ∂Toepᵀ, ∂W, ∂V, ∂P, ∂D per program: row ``program_id(1)`` of a (⌈b / BATCH⌉, PW) buffer holds
    them all, each operator's (d, …) section at the offset its pointer carries. ``p_dy``, ``p_du`` and with
    ``HAS_Z`` the gate's ``p_z``, ``p_ypre`` (the forward's ungated output) and ``p_dz`` share the strides ``s_g*``;
    ``p_delast`` is the gradient of the state entering the last chunk."""
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
    row = pb.to(tl.int64) * PW  # this program's partial sums: row pb of the (⌈b / BATCH⌉, PW) buffer
    tl.store(p_dtoep + row + c * T * T + o_t[:, None] * T + o_t[None, :], acc_toep)
    _store_pair(p_dw + row, c * T * n + o_t[:, None] * n + o_n[None, :], acc_w_re, acc_w_im, m_n[None, :], IS_COMPLEX)
    _store_pair(p_dv + row, c * n * T + o_n[:, None] * T + o_t[None, :], acc_v_re, acc_v_im, m_n[:, None], IS_COMPLEX)
    _store_pair(p_dp + row, c * n + o_n, acc_p_re, acc_p_im, m_n, IS_COMPLEX)
    if HAS_D:
        tl.store(p_dD + row + c, tl.sum(acc_D, 0))


@triton.jit
def _load_c(ptr, offsets, mask, IS_COMPLEX: tl.constexpr):
    """(real, imaginary) parts at element ``offsets``; a real tensor's imaginary part is 0."""
    re, im = _load_pair(ptr, offsets, mask, IS_COMPLEX)
    return re, im if IS_COMPLEX else re * 0.0


@triton.jit
def _powers(m, a_re, a_im):
    """Ā^m = exp(m·a) for a [BN] exponent a = ΔA and steps m (a [T, 1] tile or a scalar): (real, imaginary)."""
    r = tl.exp(m * a_re)
    return r * tl.cos(m * a_im), r * tl.sin(m * a_im)


@triton.jit
def _operator_grid(n, T: tl.constexpr, BN: tl.constexpr):
    """The operators' program: its channel c (program axis 0), the states o_n [BN] with their mask, the steps o_t
    [T], the [T, BN] mask and the steps as a float32 [T, 1] column."""
    o_n = tl.arange(0, BN)
    m_n = o_n < n
    o_t = tl.arange(0, T)
    return tl.program_id(0), o_n, m_n, o_t, m_n[None, :] & (o_t[:, None] >= 0), o_t[:, None].to(tl.float32)


@triton.jit
def _channel_coefficients(p_delta, p_A, p_Bb, p_Cb, c, n, o_n, m_n, IS_COMPLEX: tl.constexpr, ZOH: tl.constexpr):
    """Channel c's Δ, A, B̃, a = ΔA, e = e^a − 1 (zero-order hold), B̄, C = κ C̃ and q = C B̄, [BN] (real, imaginary)
    parts; the padded states get A = −1 and B̃ = C̃ = 0 (their operators are 0)."""
    delta = tl.load(p_delta + c)
    ar, ai = _load_c(p_A, c * n + o_n, m_n, IS_COMPLEX)
    ar = tl.where(m_n, ar, -1.0)
    br, bi = _load_c(p_Bb, c * n + o_n, m_n, IS_COMPLEX)
    cr, ci = _load_c(p_Cb, c * n + o_n, m_n, IS_COMPLEX)
    a_re, a_im = delta * ar, delta * ai
    if ZOH:  # e^a − 1 without cancellation: (e^{a_re} − 1)·cos(a_im) − 2 sin²(a_im / 2) + i·e^{a_re}·sin(a_im)
        s_half = tl.sin(0.5 * a_im)
        e_re = _expm1(a_re) * tl.cos(a_im) - 2.0 * s_half * s_half
        e_im = tl.exp(a_re) * tl.sin(a_im)
        inv = 1.0 / (ar * ar + ai * ai)  # e / A
        s_re, s_im = (e_re * ar + e_im * ai) * inv, (e_im * ar - e_re * ai) * inv
    else:
        e_re, e_im = a_re * 0.0, a_re * 0.0
        s_re, s_im = delta + a_re * 0.0, a_re * 0.0
    kappa = 2.0 if IS_COMPLEX else 1.0
    bb_re, bb_im, cc_re, cc_im = s_re * br - s_im * bi, s_re * bi + s_im * br, kappa * cr, kappa * ci
    return (delta, ar, ai, br, bi, a_re, a_im, e_re, e_im, bb_re, bb_im, cc_re, cc_im,
            cc_re * bb_re - cc_im * bb_im, cc_re * bb_im + cc_im * bb_re)  # fmt: skip


@triton.jit
def _operators_kernel(p_delta, p_A, p_Bb, p_Cb, p_toep, p_w, p_v, p_p, p_pr, n, r,
                      T: tl.constexpr, BN: tl.constexpr, IS_COMPLEX: tl.constexpr, ZOH: tl.constexpr):  # fmt: skip
    """Channel c's operators (program axis 0) from Δ (d,), A, B̃, C̃ (d, n[, 2]): Toepᵀ (d, T, T) with
    Toepᵀ[k, t] = K[t − k], K[m] = Re Σ C B̄ Ā^m; W (d, T, n[, 2]) = Ā^{T−1−k} B̄; V (d, n, T[, 2]) = C Ā^{t+1};
    P = Ā^T and Ā^r (d, n[, 2]), r the last chunk's steps."""
    c, o_n, m_n, o_t, m_tn, m = _operator_grid(n, T, BN)
    _, _, _, _, _, a_re, a_im, _, _, bb_re, bb_im, cc_re, cc_im, q_re, q_im = _channel_coefficients(
        p_delta, p_A, p_Bb, p_Cb, c, n, o_n, m_n, IS_COMPLEX, ZOH)  # fmt: skip
    pw_re, pw_im = _powers(m, a_re[None, :], a_im[None, :])  # [T, BN]: Ā^m
    taps = tl.sum(q_re[None, :] * pw_re - q_im[None, :] * pw_im, 1)  # [T]
    o_kt = tl.arange(0, T * T)
    lag = o_kt % T - o_kt // T  # [k, t] flattened: t − k
    tl.store(p_toep + c * T * T + o_kt, tl.where(lag >= 0, tl.gather(taps, tl.maximum(lag, 0), 0), 0.0))
    w_re, w_im = _powers(T - 1.0 - m, a_re[None, :], a_im[None, :])
    _store_pair(p_w, c * T * n + o_t[:, None] * n + o_n[None, :], w_re * bb_re[None, :] - w_im * bb_im[None, :],
                w_re * bb_im[None, :] + w_im * bb_re[None, :], m_tn, IS_COMPLEX)  # fmt: skip
    v_re, v_im = _powers(m + 1.0, a_re[None, :], a_im[None, :])
    _store_pair(p_v, c * n * T + o_n[None, :] * T + o_t[:, None], v_re * cc_re[None, :] - v_im * cc_im[None, :],
                v_re * cc_im[None, :] + v_im * cc_re[None, :], m_tn, IS_COMPLEX)  # fmt: skip
    P_re, P_im = _powers(T * 1.0, a_re, a_im)
    _store_pair(p_p, c * n + o_n, P_re, P_im, m_n, IS_COMPLEX)
    Pr_re, Pr_im = _powers(r * 1.0, a_re, a_im)
    _store_pair(p_pr, c * n + o_n, Pr_re, Pr_im, m_n, IS_COMPLEX)


@triton.jit
def _weighted_sums(x_re, x_im, m):
    """Σ over a [T, BN] tile's rows of x and of m·x, [BN] each: (Σ re, Σ im, Σ m·re, Σ m·im)."""
    return tl.sum(x_re, 0), tl.sum(x_im, 0), tl.sum(m * x_re, 0), tl.sum(m * x_im, 0)


@triton.jit
def _operators_bwd_kernel(p_delta, p_A, p_Bb, p_Cb, p_gtoep, p_gw, p_gv, p_gp, p_gpr, p_gdelta, p_gA, p_gBb, p_gCb,
                          n, r, T: tl.constexpr, BN: tl.constexpr, IS_COMPLEX: tl.constexpr, ZOH: tl.constexpr,
                          HAS_GTOEP: tl.constexpr, HAS_GW: tl.constexpr, HAS_GV: tl.constexpr, HAS_GP: tl.constexpr,
                          HAS_GPR: tl.constexpr):  # fmt: skip
    """∂Δ, ∂A, ∂B̃, ∂C̃ of channel c (program axis 0) from the operators' gradients (``_operators_kernel``'s
    outputs; absent ones are 0). PyTorch's complex convention: an output's gradient times the conjugate of its
    derivative; every operator grows from Ā^m = exp(m·a), so each adds Σ_m m·conj(Ā^m)·∂Ā^m to ∂a."""
    c, o_n, m_n, o_t, m_tn, m = _operator_grid(n, T, BN)
    delta, ar, ai, br, bi, a_re, a_im, e_re, e_im, bb_re, bb_im, cc_re, cc_im, q_re, q_im = _channel_coefficients(
        p_delta, p_A, p_Bb, p_Cb, c, n, o_n, m_n, IS_COMPLEX, ZOH)  # fmt: skip
    zero = a_re * 0.0
    gq_re, gq_im, ga_re, ga_im, gbb_re, gbb_im, gc_re, gc_im = zero, zero, zero, zero, zero, zero, zero, zero
    if HAS_GTOEP:  # ∂K[m] = Σ_k ∂Toepᵀ[k, k + m]; K[m] = Re Σ q Ā^m
        kk = o_t[None, :]
        g_taps = tl.sum(tl.load(p_gtoep + c * T * T + kk * (T + 1) + o_t[:, None], mask=kk + o_t[:, None] < T,
                                other=0.0), 1)  # fmt: skip
        pw_re, pw_im = _powers(m, a_re[None, :], a_im[None, :])
        s_re, s_im, sm_re, sm_im = _weighted_sums(g_taps[:, None] * pw_re, -g_taps[:, None] * pw_im, m)
        gq_re, gq_im = s_re, s_im
        ga_re, ga_im = q_re * sm_re + q_im * sm_im, q_re * sm_im - q_im * sm_re  # conj(q)·Σ m·∂K conj(Ā^m)
    if HAS_GW:  # W[k] = Ā^{T−1−k} B̄
        g_re, g_im = _load_c(p_gw, c * T * n + o_t[:, None] * n + o_n[None, :], m_tn, IS_COMPLEX)
        mw = T - 1.0 - m
        w_re, w_im = _powers(mw, a_re[None, :], a_im[None, :])
        s_re, s_im, sm_re, sm_im = _weighted_sums(g_re * w_re + g_im * w_im, g_im * w_re - g_re * w_im, mw)
        gbb_re, gbb_im = s_re, s_im
        ga_re, ga_im = ga_re + bb_re * sm_re + bb_im * sm_im, ga_im + bb_re * sm_im - bb_im * sm_re
    if HAS_GV:  # V[:, t] = C Ā^{t+1}
        g_re, g_im = _load_c(p_gv, c * n * T + o_n[None, :] * T + o_t[:, None], m_tn, IS_COMPLEX)
        v_re, v_im = _powers(m + 1.0, a_re[None, :], a_im[None, :])
        s_re, s_im, sm_re, sm_im = _weighted_sums(g_re * v_re + g_im * v_im, g_im * v_re - g_re * v_im, m + 1.0)
        gc_re, gc_im = s_re, s_im
        ga_re, ga_im = ga_re + cc_re * sm_re + cc_im * sm_im, ga_im + cc_re * sm_im - cc_im * sm_re
    if HAS_GP:  # P = Ā^T
        g_re, g_im = _load_c(p_gp, c * n + o_n, m_n, IS_COMPLEX)
        P_re, P_im = _powers(T * 1.0, a_re, a_im)
        ga_re, ga_im = ga_re + T * (g_re * P_re + g_im * P_im), ga_im + T * (g_im * P_re - g_re * P_im)
    if HAS_GPR:  # Ā^r
        g_re, g_im = _load_c(p_gpr, c * n + o_n, m_n, IS_COMPLEX)
        P_re, P_im = _powers(r * 1.0, a_re, a_im)
        ga_re, ga_im = ga_re + r * (g_re * P_re + g_im * P_im), ga_im + r * (g_im * P_re - g_re * P_im)
    # q = C B̄
    gc_re, gc_im = gc_re + gq_re * bb_re + gq_im * bb_im, gc_im + gq_im * bb_re - gq_re * bb_im
    gbb_re, gbb_im = gbb_re + gq_re * cc_re + gq_im * cc_im, gbb_im + gq_im * cc_re - gq_re * cc_im
    kappa = 2.0 if IS_COMPLEX else 1.0
    if ZOH:  # B̄ = (e / A)·B̃: ∂B̃ = ∂B̄ conj(e / A), ∂a += ∂B̄ conj(e^a B̃ / A), ∂A += −∂B̄ conj(e B̃ / A²)
        inv = 1.0 / (ar * ar + ai * ai)
        s_re, s_im = (e_re * ar + e_im * ai) * inv, (e_im * ar - e_re * ai) * inv  # e / A
        gB_re, gB_im = gbb_re * s_re + gbb_im * s_im, gbb_im * s_re - gbb_re * s_im
        x_re, x_im = (s_re + inv * ar) * br - (s_im - inv * ai) * bi, (s_re + inv * ar) * bi + (s_im - inv * ai) * br
        ga_re, ga_im = ga_re + gbb_re * x_re + gbb_im * x_im, ga_im + gbb_im * x_re - gbb_re * x_im
        y_re, y_im = s_re * br - s_im * bi, s_re * bi + s_im * br  # e B̃ / A, then / A
        y_re, y_im = (y_re * ar + y_im * ai) * inv, (y_im * ar - y_re * ai) * inv
        gA_re, gA_im = -(gbb_re * y_re + gbb_im * y_im), -(gbb_im * y_re - gbb_re * y_im)
        gdelta = tl.sum(tl.where(m_n, ga_re * ar + ga_im * ai, 0.0), 0)
    else:  # B̄ = Δ·B̃
        gB_re, gB_im = gbb_re * delta, gbb_im * delta
        gA_re, gA_im = zero, zero
        gdelta = tl.sum(tl.where(m_n, ga_re * ar + ga_im * ai + gbb_re * br + gbb_im * bi, 0.0), 0)
    # a = Δ·A
    _store_pair(p_gA, c * n + o_n, gA_re + ga_re * delta, gA_im + ga_im * delta, m_n, IS_COMPLEX)
    _store_pair(p_gBb, c * n + o_n, gB_re, gB_im, m_n, IS_COMPLEX)
    _store_pair(p_gCb, c * n + o_n, kappa * gc_re, kappa * gc_im, m_n, IS_COMPLEX)
    tl.store(p_gdelta + c, gdelta)


def launch_operators(delta, A, B_bias, C_bias, outputs, n, r, T, is_complex, zoh):
    """``outputs`` = (Toepᵀ, W, V, P, Ā^r) buffers; inputs (d,) and (d, n[, 2]) float32, contiguous."""
    _operators_kernel[(delta.shape[0],)](
        delta, A, B_bias, C_bias, *outputs, n, r, T=T, BN=max(16, triton.next_power_of_2(n)), IS_COMPLEX=is_complex,
        ZOH=zoh, num_warps=4,
    )  # fmt: skip


def launch_operators_backward(delta, A, B_bias, C_bias, grads, outputs, n, r, T, is_complex, zoh):
    """``grads`` = the operators' gradients (None for an absent one), ``outputs`` = (∂Δ, ∂A, ∂B̃, ∂C̃) buffers."""
    flags = {f"HAS_G{k}": g is not None for k, g in zip(("TOEP", "W", "V", "P", "PR"), grads, strict=True)}
    _operators_bwd_kernel[(delta.shape[0],)](
        delta, A, B_bias, C_bias, *grads, *outputs, n, r, T=T, BN=max(16, triton.next_power_of_2(n)),
        IS_COMPLEX=is_complex, ZOH=zoh, **flags, num_warps=4,
    )  # fmt: skip


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
    """``parts`` = (∂Toepᵀ, ∂W, ∂V, ∂P, ∂D) partial sums: column sections of one (⌈b / bwd_batch⌉, PW) buffer; ``z``,
    ``y_pre``, ``dz`` laid out like dy (None without a gate)."""
    b, L, d = u.shape
    _lti_bwd_kernel[(d, triton.cdiv(b, cfg.bwd_batch))](
        u, dy, du, z, y_pre, dz, toep, w, v, p, D, ck, de_last, *parts, dh0, b, L, n, n_chunks, n_groups,
        *_strides(u), *_same_strides(dy, du, z, y_pre, dz), parts[0].stride(0), T=cfg.tile, GC=cfg.group,
        BN=cfg.block_n, BATCH=cfg.bwd_batch, IS_COMPLEX=is_complex, HAS_D=D is not None, HAS_Z=z is not None,
        PREC=cfg.precision, num_warps=cfg.bwd_num_warps,
    )  # fmt: skip

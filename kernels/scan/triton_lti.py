"""Triton kernels of the time-invariant scan: Δ of shape (d,) and B, C given by their per-channel biases only.

With Ā, B̄, C̃ the same at every step, channel c's scan is a causal convolution, and in chunks of ``T`` steps it
becomes matrix products (the operators are built by ``kernels/scan/lti.py``). With ``U_q`` the T inputs of chunk q
of one channel and batch row (a row of a ``[ROWS, T]`` tile):

    S_q = U_q·W                          chunk q's own contribution to the state after it   (W[k] = Ā^{T−1−k} B̄)
    E_q = P·E_{q−1} + S_{q−1}, E_0 = h0  the state entering chunk q                          (P = Ā^T)
    Y_q = U_q·Toepᵀ + Re(E_q·V) + D·U_q  (Toepᵀ[k, t] = K[t − k], the first T taps; V[:, t] = κ C̃ Ā^{t+1})

Three kernels, as in Mamba-2's chunked scan: the chunk states (``_chunk_states``, a product per tile of chunks,
all chunks in parallel), the pass over chunks (``_pass_states``, one lane per (batch, channel, state), a loop over
the chunks, writing E over S), the outputs (``_outputs``). E, (b, d, L/T, n), is what the backward keeps.

The backward mirrors them. ``_state_grads``: ∂E_q = ∂Y_q·(κ C̃ Ā^{t+1})ᴴ and the partial sum of ∂V = Σ conj(E_q)ᵀ·∂Y_q;
``_pass_grads``: G_q = ∂S_q = ∂E_{q+1} + conj(P)·G_{q+1} backwards over the chunks, ∂P = Σ G_q·conj(E_q),
∂h0 = ∂E_0 + conj(P)·G_0; ``_input_grads``: ∂U_q = ∂Y_q·Toep + D·∂Y_q + Re(G_q·Wᴴ), and the partial sums
∂Toepᵀ = Σ U_qᵀ·∂Y_q, ∂W = Σ U_qᵀ·G_q, ∂D = Σ ∂Y_q·U_q. A program of those two owns one channel and ``BATCH``
batch rows and keeps its partial sums in registers; the host adds the programs' partials. Complex tensors travel as
``torch.view_as_real`` (…, 2) float32 pairs.
"""

from __future__ import annotations

import triton
import triton.language as tl


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
def _chunk_tile(p_x, o_row, s_l, q, o_t, L, T: tl.constexpr):
    """The [ROWS, T] tile of chunks ``q`` of one (batch, channel) row of a (b, L, d) tensor (0 past L), float32,
    and its offsets and mask."""
    tau = (q[:, None] * T + o_t[None, :]).to(tl.int64)
    m = tau < L
    return tl.load(p_x + o_row + tau * s_l, mask=m, other=0.0).to(tl.float32), o_row + tau * s_l, m


@triton.jit
def _chunk_states(
    p_u, p_w, p_s, L, n, n_chunks, s_ub, s_uc, s_ul,
    T: tl.constexpr, ROWS: tl.constexpr, BN: tl.constexpr, IS_COMPLEX: tl.constexpr, PREC: tl.constexpr,
):  # fmt: skip
    """S (b, d, L/T, n[, 2]) = U·W for a tile of chunks (grid: channel, batch row, tile of chunks)."""
    c, bb, qb = tl.program_id(0), tl.program_id(1), tl.program_id(2)
    d = tl.num_programs(0)
    q = qb * ROWS + tl.arange(0, ROWS)
    o_t, o_n = tl.arange(0, T), tl.arange(0, BN)
    m_n = o_n < n
    U, _, _ = _chunk_tile(p_u, bb.to(tl.int64) * s_ub + c.to(tl.int64) * s_uc, s_ul, q, o_t, L, T)
    w_re, w_im = _load_pair(p_w, c * T * n + o_t[:, None] * n + o_n[None, :], m_n[None, :], IS_COMPLEX)
    o_s = ((bb * d + c).to(tl.int64) * n_chunks + q[:, None]) * n + o_n[None, :]
    m_s = (q < n_chunks)[:, None] & m_n[None, :]
    s_re = tl.dot(U, w_re, input_precision=PREC)
    if IS_COMPLEX:
        s_im = tl.dot(U, w_im, input_precision=PREC)
    else:
        s_im = s_re
    _store_pair(p_s, o_s, s_re, s_im, m_s, IS_COMPLEX)


@triton.jit
def _pass_states(p_s, p_p, p_h0, lanes, d, n, n_chunks, BLOCK: tl.constexpr, HAS_H0: tl.constexpr,
                 IS_COMPLEX: tl.constexpr):  # fmt: skip
    """E_q = P·E_{q−1} + S_{q−1} over the chunks, written over S; one lane per (batch, channel, state)."""
    lane = (tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)).to(tl.int64)
    m = lane < lanes
    row, k = lane // n, lane % n  # row = batch·d + channel
    p_re, p_im = _load_pair(p_p, (row % d) * n + k, m, IS_COMPLEX)
    if HAS_H0:
        h_re, h_im = _load_pair(p_h0, lane, m, IS_COMPLEX)
    else:
        h_re = tl.zeros([BLOCK], tl.float32)
        h_im = tl.zeros([BLOCK], tl.float32)
    o = row * n_chunks * n + k
    for q in range(n_chunks):
        s_re, s_im = _load_pair(p_s, o + q * n, m, IS_COMPLEX)
        _store_pair(p_s, o + q * n, h_re, h_im, m, IS_COMPLEX)
        if IS_COMPLEX:
            h_re, h_im = p_re * h_re - p_im * h_im + s_re, p_re * h_im + p_im * h_re + s_im
        else:
            h_re = p_re * h_re + s_re


@triton.jit
def _outputs(
    p_u, p_y, p_toep, p_v, p_e, p_D, L, n, n_chunks, s_ub, s_uc, s_ul, s_yb, s_yc, s_yl,
    T: tl.constexpr, ROWS: tl.constexpr, BN: tl.constexpr, IS_COMPLEX: tl.constexpr, HAS_D: tl.constexpr,
    PREC: tl.constexpr,
):  # fmt: skip
    """Y = U·Toepᵀ + Re(E·V) + D·U for a tile of chunks (grid: channel, batch row, tile of chunks)."""
    c, bb, qb = tl.program_id(0), tl.program_id(1), tl.program_id(2)
    d = tl.num_programs(0)
    q = qb * ROWS + tl.arange(0, ROWS)
    o_t, o_n = tl.arange(0, T), tl.arange(0, BN)
    m_n = o_n < n
    U, _, m = _chunk_tile(p_u, bb.to(tl.int64) * s_ub + c.to(tl.int64) * s_uc, s_ul, q, o_t, L, T)
    o_e = ((bb * d + c).to(tl.int64) * n_chunks + q[:, None]) * n + o_n[None, :]
    e_re, e_im = _load_pair(p_e, o_e, (q < n_chunks)[:, None] & m_n[None, :], IS_COMPLEX)
    v_re, v_im = _load_pair(p_v, c * n * T + o_n[:, None] * T + o_t[None, :], m_n[:, None], IS_COMPLEX)
    toep = tl.load(p_toep + c * T * T + o_t[:, None] * T + o_t[None, :])
    Y = tl.dot(U, toep, input_precision=PREC) + tl.dot(e_re, v_re, input_precision=PREC)
    if IS_COMPLEX:
        Y -= tl.dot(e_im, v_im, input_precision=PREC)
    if HAS_D:
        Y += tl.load(p_D + c).to(tl.float32) * U
    tau = (q[:, None] * T + o_t[None, :]).to(tl.int64)
    tl.store(p_y + bb.to(tl.int64) * s_yb + c.to(tl.int64) * s_yc + tau * s_yl, Y.to(p_y.dtype.element_ty), mask=m)


@triton.jit
def _state_grads(
    p_dy, p_v, p_e, p_de, p_dv, batch, L, n, n_chunks, s_gb, s_gc, s_gl,
    T: tl.constexpr, ROWS: tl.constexpr, BN: tl.constexpr, BATCH: tl.constexpr, IS_COMPLEX: tl.constexpr,
    PREC: tl.constexpr,
):  # fmt: skip
    """∂E (b, d, L/T, n[, 2]) = κ ∂Y·(Re V − i Im V)ᵀ per chunk, and this program's partial sum of ∂V."""
    c, pb = tl.program_id(0), tl.program_id(1)
    d = tl.num_programs(0)
    o_t, o_n = tl.arange(0, T), tl.arange(0, BN)
    m_n = o_n < n
    v_re, v_im = _load_pair(p_v, c * n * T + o_n[:, None] * T + o_t[None, :], m_n[:, None], IS_COMPLEX)
    acc_re = tl.zeros([BN, T], tl.float32)
    acc_im = tl.zeros([BN, T], tl.float32)
    for i in range(BATCH):
        bb = pb * BATCH + i
        if bb < batch:
            for q0 in range(0, n_chunks, ROWS):
                q = q0 + tl.arange(0, ROWS)
                dY, _, _ = _chunk_tile(p_dy, bb.to(tl.int64) * s_gb + c.to(tl.int64) * s_gc, s_gl, q, o_t, L, T)
                o_e = ((bb * d + c).to(tl.int64) * n_chunks + q[:, None]) * n + o_n[None, :]
                m_e = (q < n_chunks)[:, None] & m_n[None, :]
                e_re, e_im = _load_pair(p_e, o_e, m_e, IS_COMPLEX)
                acc_re += tl.dot(tl.trans(e_re), dY, input_precision=PREC)
                de_re = tl.dot(dY, tl.trans(v_re), input_precision=PREC)
                if IS_COMPLEX:
                    acc_im -= tl.dot(tl.trans(e_im), dY, input_precision=PREC)
                    de_im = -tl.dot(dY, tl.trans(v_im), input_precision=PREC)
                else:
                    de_im = de_re
                _store_pair(p_de, o_e, de_re, de_im, m_e, IS_COMPLEX)
    _store_pair(p_dv, (pb * d + c).to(tl.int64) * n * T + o_n[:, None] * T + o_t[None, :], acc_re, acc_im,
                m_n[:, None], IS_COMPLEX)  # fmt: skip


@triton.jit
def _pass_grads(p_de, p_e, p_p, p_seed, p_dp, p_dh0, lanes, d, n, n_chunks, BLOCK: tl.constexpr,
                IS_COMPLEX: tl.constexpr):  # fmt: skip
    """G_q = ∂E_{q+1} + conj(P)·G_{q+1} from the last chunk to the first, written over ∂E (``p_seed``: the gradient
    of E of the last chunk from outside); ∂P = Σ_q G_q·conj(E_q) and ∂h0 per lane."""
    lane = (tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)).to(tl.int64)
    m = lane < lanes
    row, k = lane // n, lane % n
    p_re, p_im = _load_pair(p_p, (row % d) * n + k, m, IS_COMPLEX)
    seed_re, seed_im = _load_pair(p_seed, lane, m, IS_COMPLEX)
    next_re = tl.zeros([BLOCK], tl.float32)  # ∂E_{q+1}
    next_im = tl.zeros([BLOCK], tl.float32)
    g_re = tl.zeros([BLOCK], tl.float32)
    g_im = tl.zeros([BLOCK], tl.float32)
    dp_re = tl.zeros([BLOCK], tl.float32)
    dp_im = tl.zeros([BLOCK], tl.float32)
    o = row * n_chunks * n + k
    for qq in range(n_chunks):
        q = n_chunks - 1 - qq
        de_re, de_im = _load_pair(p_de, o + q * n, m, IS_COMPLEX)
        e_re, e_im = _load_pair(p_e, o + q * n, m, IS_COMPLEX)
        de_re = tl.where(qq == 0, de_re + seed_re, de_re)
        de_im = tl.where(qq == 0, de_im + seed_im, de_im)
        if IS_COMPLEX:
            g_re, g_im = next_re + p_re * g_re + p_im * g_im, next_im + p_re * g_im - p_im * g_re
            dp_re += g_re * e_re + g_im * e_im
            dp_im += g_im * e_re - g_re * e_im
        else:
            g_re = next_re + p_re * g_re
            dp_re += g_re * e_re
        _store_pair(p_de, o + q * n, g_re, g_im, m, IS_COMPLEX)
        next_re, next_im = de_re, de_im
    if IS_COMPLEX:
        _store_pair(p_dh0, lane, next_re + p_re * g_re + p_im * g_im, next_im + p_re * g_im - p_im * g_re, m, True)
    else:
        tl.store(p_dh0 + lane, next_re + p_re * g_re, mask=m)
    _store_pair(p_dp, lane, dp_re, dp_im, m, IS_COMPLEX)


@triton.jit
def _input_grads(
    p_u, p_dy, p_du, p_toep, p_w, p_g, p_D, p_dtoep, p_dw, p_dD, batch, L, n, n_chunks,
    s_ub, s_uc, s_ul, s_gb, s_gc, s_gl,
    T: tl.constexpr, ROWS: tl.constexpr, BN: tl.constexpr, BATCH: tl.constexpr, IS_COMPLEX: tl.constexpr,
    HAS_D: tl.constexpr, PREC: tl.constexpr,
):  # fmt: skip
    """∂U = ∂Y·Toep + D·∂Y + Re(G·Wᴴ) per chunk, and this program's partial sums of ∂Toepᵀ, ∂W, ∂D."""
    c, pb = tl.program_id(0), tl.program_id(1)
    d = tl.num_programs(0)
    o_t, o_n = tl.arange(0, T), tl.arange(0, BN)
    m_n = o_n < n
    toep = tl.load(p_toep + c * T * T + o_t[:, None] * T + o_t[None, :])
    w_re, w_im = _load_pair(p_w, c * T * n + o_t[:, None] * n + o_n[None, :], m_n[None, :], IS_COMPLEX)
    acc_toep = tl.zeros([T, T], tl.float32)
    acc_re = tl.zeros([T, BN], tl.float32)
    acc_im = tl.zeros([T, BN], tl.float32)
    acc_D = tl.zeros([T], tl.float32)
    for i in range(BATCH):
        bb = pb * BATCH + i
        if bb < batch:
            for q0 in range(0, n_chunks, ROWS):
                q = q0 + tl.arange(0, ROWS)
                U, _, _ = _chunk_tile(p_u, bb.to(tl.int64) * s_ub + c.to(tl.int64) * s_uc, s_ul, q, o_t, L, T)
                dY, o_g, m = _chunk_tile(p_dy, bb.to(tl.int64) * s_gb + c.to(tl.int64) * s_gc, s_gl, q, o_t, L, T)
                o_e = ((bb * d + c).to(tl.int64) * n_chunks + q[:, None]) * n + o_n[None, :]
                g_re, g_im = _load_pair(p_g, o_e, (q < n_chunks)[:, None] & m_n[None, :], IS_COMPLEX)
                U_t = tl.trans(U)
                dU = tl.dot(dY, tl.trans(toep), input_precision=PREC)
                dU += tl.dot(g_re, tl.trans(w_re), input_precision=PREC)
                acc_toep += tl.dot(U_t, dY, input_precision=PREC)
                acc_re += tl.dot(U_t, g_re, input_precision=PREC)
                if IS_COMPLEX:
                    dU += tl.dot(g_im, tl.trans(w_im), input_precision=PREC)
                    acc_im += tl.dot(U_t, g_im, input_precision=PREC)
                if HAS_D:
                    dU += tl.load(p_D + c).to(tl.float32) * dY
                    acc_D += tl.sum(dY * U, 0)
                tl.store(p_du + o_g, dU.to(p_du.dtype.element_ty), mask=m)
    o_part = (pb * d + c).to(tl.int64)
    tl.store(p_dtoep + o_part * T * T + o_t[:, None] * T + o_t[None, :], acc_toep)
    _store_pair(p_dw, o_part * T * n + o_t[:, None] * n + o_n[None, :], acc_re, acc_im, m_n[None, :], IS_COMPLEX)
    if HAS_D:
        tl.store(p_dD + o_part, tl.sum(acc_D, 0))


def _strides(x):
    """(batch, channel, time) strides of a (b, L, d) tensor."""
    return x.stride(0), x.stride(2), x.stride(1)


LANES_PER_PROGRAM = 128


def launch_lti_forward(u, y, toep, w, v, p, D, h0, e, n, cfg, is_complex):
    """``e`` (b, d, L/T, n[, 2]) receives the state entering every chunk; ``h0`` pairs or None."""
    b, L, d = u.shape
    n_chunks = e.shape[2]
    tiles = (d, b, triton.cdiv(n_chunks, cfg.rows))
    shapes = dict(T=cfg.tile, ROWS=cfg.rows, BN=cfg.block_n, IS_COMPLEX=is_complex, PREC=cfg.precision,
                  num_warps=cfg.num_warps)  # fmt: skip
    _chunk_states[tiles](u, w, e, L, n, n_chunks, *_strides(u), **shapes)
    lanes = b * d * n
    _pass_states[(triton.cdiv(lanes, LANES_PER_PROGRAM),)](
        e, p, h0, lanes, d, n, n_chunks, BLOCK=LANES_PER_PROGRAM, HAS_H0=h0 is not None, IS_COMPLEX=is_complex
    )
    _outputs[tiles](u, y, toep, v, e, D, L, n, n_chunks, *_strides(u), *_strides(y), HAS_D=D is not None, **shapes)


def launch_lti_backward(u, dy, du, toep, w, v, p, D, e, seed, de, parts, dh0, n, cfg, is_complex):
    """``parts`` = (∂Toepᵀ, ∂W, ∂V, ∂D) partial sums with a leading axis of ⌈b / bwd_batch⌉, then ∂P per batch
    row (b, d, n[, 2]); ``de`` a buffer like ``e``; ``seed`` the gradient of E of the last chunk; ``du`` has
    ``dy``'s strides."""
    b, L, d = u.shape
    n_chunks = e.shape[2]
    d_toep, dw, dv, dD, dp = parts
    grid = (d, triton.cdiv(b, cfg.bwd_batch))
    shapes = dict(T=cfg.tile, ROWS=cfg.rows, BN=cfg.block_n, BATCH=cfg.bwd_batch, IS_COMPLEX=is_complex,
                  PREC=cfg.precision, num_warps=cfg.bwd_num_warps)  # fmt: skip
    _state_grads[grid](dy, v, e, de, dv, b, L, n, n_chunks, *_strides(dy), **shapes)
    lanes = b * d * n
    _pass_grads[(triton.cdiv(lanes, LANES_PER_PROGRAM),)](
        de, e, p, seed, dp, dh0, lanes, d, n, n_chunks, BLOCK=LANES_PER_PROGRAM, IS_COMPLEX=is_complex
    )
    _input_grads[grid](u, dy, du, toep, w, de, D, d_toep, dw, dD, b, L, n, n_chunks, *_strides(u), *_strides(dy),
                       HAS_D=D is not None, **shapes)  # fmt: skip

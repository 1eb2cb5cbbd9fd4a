"""Triton backward kernels of the selective scan: recompute from checkpoints, adjoint scan backwards in time.

Same decomposition as the forward (``kernels/scan/triton_fwd.py``): a program owns ``BLOCK_R`` channels of one
batch row and one chunk; it walks the chunk's tiles from last to first, and per tile and state it re-runs the
forward scan from the checkpointed tile start state, then runs the adjoint recurrence
``g_t = e_t + conj(Ā_{t+1}) g_{t+1}`` (``e_t`` = ∂loss/∂h_t through y_t) as a reversed ``tl.associative_scan``,
and forms every gradient from ``g`` and ``h`` (formulas in ``benchmarks/README.md``). The adjoint entering a
chunk from the right comes from a pass 1 (``LOCAL``: each chunk's adjoint carry from zero, a sum as in the
forward's pass 1, on every chunk but the first) and a reverse combination over chunks; the backward's chunks are
its own (``LaunchConfig.bwd_tiles_per_chunk``). Ā_{t+1} is Ā shifted by one step (``_next_step``). Per-(d, n)
gradients are written as per-tile partial sums (summed on the host, deterministic); dB and dC, shared by the
channels of a block, are summed over the program's channels and added atomically into float32 (b, h, n, L)
buffers.
"""

from __future__ import annotations

import math

import triton
import triton.language as tl

from kernels.scan.triton_fwd import (
    _combine_complex,
    _combine_real,
    _enter,
    _input_coefficient,
    _load_A,
    _load_tile,
    _mix,
    _sigmoid,
    _step_size,
    _store_tile,
    _transition,
    launch_combine,
    scan_constants,
)


@triton.jit
def _flip_time(x, LANE_V: tl.constexpr):
    """An [R, T] tile reversed along time. ``LANE_V`` = 0: ``tl.flip`` (any layout; its lane part is a butterfly of
    five shuffle rounds). ``LANE_V`` = V > 0 (GPU, one warp, T = 32 V, the tile's layout holding V consecutive steps
    per thread, see ``lane_vector``): step (lane, i) goes to (31 − lane, V − 1 − i), so the in-thread part is
    register renaming and the lanes one ``shfl.bfly`` by 31 per element."""
    if LANE_V == 0:
        return tl.flip(x, 1)
    else:
        R: tl.constexpr = x.shape[0]
        y = tl.flip(tl.reshape(x, [R, 32, LANE_V]), 2).to(tl.int32, bitcast=True)
        y = tl.inline_asm_elementwise("shfl.sync.bfly.b32 $0, $1, 31, 31, -1;", "=r,r", [y], dtype=tl.int32,
                                      is_pure=True, pack=1)  # fmt: skip
        return tl.reshape(y.to(tl.float32, bitcast=True), [R, x.shape[1]])


@triton.jit
def _next_run(x):
    """On [R, G] values, one per run of steps: each run's value from the next run (the last run keeps its own)."""
    G: tl.constexpr = x.shape[1]
    nxt = tl.minimum(tl.arange(0, G)[None, :] + 1, G - 1) + tl.zeros(x.shape, tl.int32)
    return tl.gather(x, nxt, 1)


@triton.jit
def _next_step(x, V: tl.constexpr):
    """x one step ahead along time on an [R, T] tile (x[:, t + 1]; the last column is undefined): in runs of V
    steps (1, 2, 4 or 8), split by halves into even and odd steps and joined back one step on, so only each run's
    first value comes from the next run (``_next_run`` on [R, T / V]). Where a thread holds the V steps of a run
    the splits and joins are register renaming and the gather one shuffle per run, against an exponential per
    element for recomputing exp(Δ_{t+1}·A). The result does not depend on the layout."""
    R: tl.constexpr = x.shape[0]
    G: tl.constexpr = x.shape[1] // V
    if V == 1:
        return _next_run(x)
    else:
        # the next of step 2i is 2i + 1; the next of 2i + 1 is 2i + 2: the even steps one on (by hand, per V)
        even, odd = tl.split(tl.reshape(x, [R, G, V // 2, 2]))  # [R, G, V/2]
        if V == 2:
            even_on = _next_run(tl.reshape(even, [R, G]))
        elif V == 4:
            e2, o2 = tl.split(tl.reshape(even, [R, G, 1, 2]))
            even_on = tl.join(tl.reshape(o2, [R, G]), _next_run(tl.reshape(e2, [R, G])))
        else:
            e4, o4 = tl.split(tl.reshape(even, [R, G, 2, 2]))  # [R, G, 2]
            e2, o2 = tl.split(tl.reshape(e4, [R, G, 1, 2]))
            on2 = tl.join(tl.reshape(o2, [R, G]), _next_run(tl.reshape(e2, [R, G])))  # [R, G, 2]
            even_on = tl.reshape(tl.join(o4, on2), [R, G, 4])
        return tl.reshape(tl.join(odd, tl.reshape(even_on, [R, G, V // 2])), [R, G * V])


@triton.jit
def _reverse_scan(a_re, a_im, b_re, b_im, IS_COMPLEX: tl.constexpr, LANE_V: tl.constexpr):
    """g_t = b_t + a_t·g_{t+1} along time (complex when ``IS_COMPLEX``): a forward scan of the time-reversed
    tiles, reversed back (``_flip_time``); returns (Re g, Im g), Im g = Re g for real tiles."""
    if IS_COMPLEX:
        _, _, g_re, g_im = tl.associative_scan(
            (_flip_time(a_re, LANE_V), _flip_time(a_im, LANE_V), _flip_time(b_re, LANE_V), _flip_time(b_im, LANE_V)),
            1, _combine_complex,
        )  # fmt: skip
        return _flip_time(g_re, LANE_V), _flip_time(g_im, LANE_V)
    else:
        _, g_re = tl.associative_scan((_flip_time(a_re, LANE_V), _flip_time(b_re, LANE_V)), 1, _combine_real)
        g_re = _flip_time(g_re, LANE_V)
        return g_re, g_re


@triton.jit
def _bwd_kernel(
    p_u,
    p_dt,
    p_A,
    p_B,
    p_C,
    p_Bb,
    p_Cb,
    p_D,
    p_z,
    p_dtb,
    p_dout,
    p_ckpt,
    p_chunk,
    p_sumdt,
    p_adj,
    p_du,
    p_ddt,
    p_dz,
    p_dB,
    p_dC,
    p_dA_part,
    p_dBb_part,
    p_dCb_part,
    p_dD_part,
    p_ddt_part,
    p_dh0,
    L,
    D,
    stride_l,
    stride_d,
    N,
    H,
    P,
    NT,
    NC,
    K,
    C0,
    PW,
    BLOCK_R: tl.constexpr,
    T: tl.constexpr,
    BLOCK_N: tl.constexpr,
    IS_COMPLEX: tl.constexpr,
    B_COMPLEX: tl.constexpr,
    C_COMPLEX: tl.constexpr,
    BB_COMPLEX: tl.constexpr,
    CB_COMPLEX: tl.constexpr,
    HAS_B: tl.constexpr,
    HAS_C: tl.constexpr,
    HAS_BB: tl.constexpr,
    HAS_CB: tl.constexpr,
    HAS_D: tl.constexpr,
    HAS_Z: tl.constexpr,
    HAS_DTB: tl.constexpr,
    DT_SOFTPLUS: tl.constexpr,
    DT_INVARIANT: tl.constexpr,
    ZOH: tl.constexpr,
    FAST: tl.constexpr,
    LANE_V: tl.constexpr,
    NEXT_V: tl.constexpr,
    STAGES: tl.constexpr,
    LOCAL: tl.constexpr,
    UNROLL: tl.constexpr,
    EVEN: tl.constexpr,
):
    """One program: channels [i_r·R, (i_r+1)·R) of batch row i_b over chunk i_c, tiles in reverse.

    Shapes as in ``_fwd_kernel``; dout, du, ddt, dz (b, L, d); dB, dC (b, h, n, L[, 2]) float32, accumulated;
    the per-tile partials of dA, dB_bias, dC_bias ((d, n[, 2]) each) and dD, ddt ((d,) each) are sections of rows
    of ``PW`` floats of one (b, NT, PW) buffer (one sum on the host reduces them all); dh0 (b, d, n[, 2]).
    chunk slot i_c holds the adjoint entering chunk i_c from the right (pass 2), or receives chunk i_c's own
    carry from zero in slot i_c − 1 (pass 1, ``LOCAL``, run on chunks 1 … NC−1 only: the first chunk's carry
    would not be used). The grid's chunk index starts at ``C0``.
    """
    i_r = tl.program_id(0).to(tl.int64)
    i_b = tl.program_id(1).to(tl.int64)
    i_c = tl.program_id(2).to(tl.int64) + C0
    S2: tl.constexpr = 2 if IS_COMPLEX else 1
    SB: tl.constexpr = 2 if B_COMPLEX else 1
    SC: tl.constexpr = 2 if C_COMPLEX else 1
    o_r = i_r * BLOCK_R + tl.arange(0, BLOCK_R)
    o_t = tl.arange(0, T)
    o_n = tl.arange(0, BLOCK_N)
    m_r = o_r < D
    m_n = (o_n < N)[None, :] & m_r[:, None]
    i_g = (i_r * BLOCK_R) // P
    o_state = (o_r[:, None] * N + o_n[None, :]) * S2

    # The adjoint entering each tile from the right lives in adj[tile] (b, NT, d, n[, 2]): written before the tile
    # (from the chunk slot, or by the tile to its right, state by state) and read back after a barrier.
    n_tiles = tl.minimum(K, NT - i_c * K)
    p_first = p_adj + (i_b * NT + i_c * K + n_tiles - 1) * D * N * S2 + o_state
    if LOCAL:
        start_re = tl.zeros([BLOCK_R, BLOCK_N], tl.float32)
        start_im = start_re
    else:
        p_in = p_chunk + (i_b * NC + i_c) * D * N * S2 + o_state
        start_re = tl.load(p_in, mask=m_n, other=0.0)
        if IS_COMPLEX:
            start_im = tl.load(p_in + 1, mask=m_n, other=0.0)
    tl.store(p_first, start_re, mask=m_n)
    if IS_COMPLEX:
        tl.store(p_first + 1, start_im, mask=m_n)
    tl.debug_barrier()
    if HAS_D:
        b_D = tl.load(p_D + o_r).to(tl.float32)

    sumdt = tl.zeros([BLOCK_R], tl.float32)  # Σ Δ over the chunk (pass 1), for the reverse combination
    for i_s in range(n_tiles):
        i_tile = i_c * K + n_tiles - 1 - i_s
        p_g0 = p_adj + (i_b * NT + i_tile) * D * N * S2
        if i_s + 1 < n_tiles:
            p_end = p_adj + (i_b * NT + i_tile - 1) * D * N * S2
            ok_end = (i_c >= 0).to(tl.int32)
        elif LOCAL:  # chunk i_c's adjoint carry from zero goes to slot i_c − 1
            p_end = p_chunk + (i_b * NC + i_c - 1) * D * N * S2
            ok_end = (i_c >= 1).to(tl.int32)
        else:
            p_end = p_dh0 + i_b * D * N * S2
            ok_end = (i_c == 0).to(tl.int32)
        m_end = (o_r * 0 + ok_end) > 0
        o_tt = i_tile * T + o_t
        m_t = o_tt < L
        m_x = m_t[None, :] & m_r[:, None]
        o_x = i_b * L * D + o_tt[None, :] * stride_l + o_r[:, None] * stride_d
        delta, _ = _step_size(p_dt, p_dtb, o_x, o_r, m_x, HAS_DTB, DT_SOFTPLUS, DT_INVARIANT, EVEN, FAST)
        b_dout = _load_tile(p_dout, o_x, m_x, EVEN)
        if HAS_Z:
            b_z = _load_tile(p_z, o_x, m_x, EVEN)
            b_dy = b_dout * b_z * _sigmoid(b_z, FAST)
        else:
            b_dy = b_dout
        if LOCAL:  # Σ Δ up to each step from the tile's start: exp(A·that) carries an adjoint to the start
            upto = tl.cumsum(delta, 1)
            tile_dt = tl.sum(delta, 1, keep_dims=True)
            sumdt += tl.sum(tile_dt, 1)
        else:
            b_u = _load_tile(p_u, o_x, m_x, EVEN)
            y_acc = tl.zeros([BLOCK_R, T], tl.float32)
            du_acc = tl.zeros([BLOCK_R, T], tl.float32)
            ddelta = tl.zeros([BLOCK_R, T], tl.float32)
            o_part = (i_b * NT + i_tile) * PW
        o_sel = (i_b * H + i_g) * N * L + o_tt
        i_first = tl.zeros([BLOCK_R, 1], tl.int32)  # the adjoint leaving the tile is the first column
        last = o_t[None, :] == T - 1
        first = o_t[None, :] == 0
        for k0 in tl.range(0, N, UNROLL, num_stages=STAGES):  # STAGES > 1: next states' loads issued early
            for kk in tl.static_range(UNROLL):  # states unrolled UNROLL at a time: their loads issue early
                k = k0 + kk
                o_kn = o_r * N + k
                ar, ai = _load_A(p_A, o_kn, IS_COMPLEX)
                a_re, a_im, s_half = _transition(delta, ar, ai, IS_COMPLEX, FAST)
                cc_re, cc_im = _mix(p_C, o_sel + k * L, p_Cb, o_kn, m_t, HAS_C, HAS_CB, C_COMPLEX, CB_COMPLEX,
                                    IS_COMPLEX, BLOCK_R, T, EVEN)  # fmt: skip
                if LOCAL:  # only the adjoint leaving the tile: a sum, conj(Π_{s≤t} Ā_s) e_t over t, no scan
                    v = _transition(upto, ar, ai, IS_COMPLEX, FAST)
                    span = _transition(tile_dt, ar, ai, IS_COMPLEX, FAST)  # Π Ā over the tile, [R, 1]
                    v_re, v_im, span_re, span_im = v[0], v[1], span[0], span[1]
                    in_re = tl.load(p_g0 + o_kn * S2)[:, None]  # the adjoint entering from the right
                    if IS_COMPLEX:
                        in_im = tl.load(p_g0 + o_kn * S2 + 1)[:, None]
                        e_re = 2.0 * b_dy * cc_re
                        e_im = -2.0 * b_dy * cc_im
                        out_re = (
                            span_re * in_re + span_im * in_im + tl.sum(v_re * e_re + v_im * e_im, 1, keep_dims=True)
                        )
                        out_im = (
                            span_re * in_im - span_im * in_re + tl.sum(v_re * e_im - v_im * e_re, 1, keep_dims=True)
                        )
                        tl.store(p_end + o_kn[:, None] * S2 + 1, out_im, mask=m_end[:, None])
                    else:
                        out_re = span_re * in_re + tl.sum(v_re * b_dy * cc_re, 1, keep_dims=True)
                    tl.store(p_end + o_kn[:, None] * S2, out_re, mask=m_end[:, None])
                else:
                    # Ā one step ahead (1 at the tile's last step: the carry handles the boundary; past L, Δ = 0
                    # gives 1); the adjoint entering from the right joins e at that last step, so the scan's
                    # cumulative product is not needed (its flip back costs shuffles)
                    an_re = tl.where(last, 1.0, _next_step(a_re, NEXT_V))
                    an_im = tl.where(last, 0.0, _next_step(a_im, NEXT_V)) if IS_COMPLEX else an_re
                    g0_re = tl.where(last, tl.load(p_g0 + o_kn * S2)[:, None], 0.0)
                    if IS_COMPLEX:
                        g0_im = tl.where(last, tl.load(p_g0 + o_kn * S2 + 1)[:, None], 0.0)
                        g_re, g_im = _reverse_scan(an_re, -an_im, 2.0 * b_dy * cc_re + g0_re,
                                                   g0_im - 2.0 * b_dy * cc_im, True, LANE_V)  # fmt: skip
                        out_re = a_re * g_re + a_im * g_im
                        out_im = tl.gather(a_re * g_im - a_im * g_re, i_first, 1)
                        tl.store(p_end + o_kn[:, None] * S2 + 1, out_im, mask=m_end[:, None])
                    else:
                        g_re, _ = _reverse_scan(an_re, an_re, b_dy * cc_re + g0_re, g0_re, False, LANE_V)
                        out_re = a_re * g_re
                    tl.store(p_end + o_kn[:, None] * S2, tl.gather(out_re, i_first, 1), mask=m_end[:, None])

                if not LOCAL:
                    p_h0 = p_ckpt + (i_b * NT + i_tile) * D * N * S2 + o_kn * S2
                    h0_re = tl.load(p_h0)[:, None]
                    b_re, b_im = _mix(p_B, o_sel + k * L, p_Bb, o_kn, m_t, HAS_B, HAS_BB, B_COMPLEX, BB_COMPLEX,
                                      IS_COMPLEX, BLOCK_R, T, EVEN)  # fmt: skip
                    cb_re, cb_im, q_re, q_im = _input_coefficient(
                        delta, a_re, a_im, s_half, ar, ai, b_re, b_im, IS_COMPLEX, ZOH
                    )
                    if IS_COMPLEX:
                        h0_im = tl.load(p_h0 + 1)[:, None]
                        be_re = cb_re * b_u
                        be_im = cb_im * b_u
                        b0_re, b0_im = _enter(a_re, a_im, be_re, be_im, h0_re, h0_im, first, True)
                        _, _, h_re, h_im = tl.associative_scan((a_re, a_im, b0_re, b0_im), 1, _combine_complex)
                        y_acc += cc_re * h_re - cc_im * h_im
                        gc_re = 2.0 * b_dy * h_re
                        gc_im = -2.0 * b_dy * h_im
                        du_acc += g_re * cb_re + g_im * cb_im
                        gb_re = g_re * b_u
                        gb_im = g_im * b_u
                        # W = G_Ā·conj(Ā) = g·conj(h − B̄u) (+ G_B̄·conj(Ā B̃ / A) for zoh)
                        hm_re = h_re - be_re
                        hm_im = h_im - be_im
                        w_re = g_re * hm_re + g_im * hm_im
                        w_im = g_im * hm_re - g_re * hm_im
                        if ZOH:
                            inv = 1.0 / (ar * ar + ai * ai)
                            ia_re = (ar * inv)[:, None]
                            ia_im = (-ai * inv)[:, None]
                            ab_re = a_re * b_re - a_im * b_im
                            ab_im = a_re * b_im + a_im * b_re
                            v_re = ab_re * ia_re - ab_im * ia_im
                            v_im = ab_re * ia_im + ab_im * ia_re
                            w_re += gb_re * v_re + gb_im * v_im
                            w_im += gb_im * v_re - gb_re * v_im
                            s_re = cb_re * ia_re - cb_im * ia_im
                            s_im = cb_re * ia_im + cb_im * ia_re
                            gA_re = delta * w_re - (gb_re * s_re + gb_im * s_im)
                            gA_im = delta * w_im - (gb_im * s_re - gb_re * s_im)
                            gB_re = gb_re * q_re + gb_im * q_im
                            gB_im = gb_im * q_re - gb_re * q_im
                        else:
                            gA_re = delta * w_re
                            gA_im = delta * w_im
                            gB_re = gb_re * delta
                            gB_im = gb_im * delta
                            ddelta += gb_re * b_re + gb_im * b_im
                        ddelta += ar[:, None] * w_re + ai[:, None] * w_im
                        tl.store(p_dA_part + o_part + o_kn * S2 + 1, tl.sum(gA_im, 1))
                        if HAS_BB:
                            tl.store(p_dBb_part + o_part + o_kn * S2 + 1, tl.sum(gB_im, 1))
                        if HAS_CB:
                            tl.store(p_dCb_part + o_part + o_kn * S2 + 1, tl.sum(gc_im, 1))
                        if B_COMPLEX:
                            p_dBk = p_dB + ((i_b * H + i_g) * N + k) * L * SB + o_tt * SB
                            tl.atomic_add(p_dBk + 1, tl.sum(gB_im, 0), mask=m_t, sem="relaxed")
                        if C_COMPLEX:
                            p_dCk = p_dC + ((i_b * H + i_g) * N + k) * L * SC + o_tt * SC
                            tl.atomic_add(p_dCk + 1, tl.sum(gc_im, 0), mask=m_t, sem="relaxed")
                    else:
                        be_re = cb_re * b_u
                        b0_re, _ = _enter(a_re, a_re, be_re, be_re, h0_re, h0_re, first, False)
                        _, h_re = tl.associative_scan((a_re, b0_re), 1, _combine_real)
                        y_acc += cc_re * h_re
                        gc_re = b_dy * h_re
                        du_acc += g_re * cb_re
                        gb_re = g_re * b_u
                        w_re = g_re * (h_re - be_re)
                        if ZOH:
                            inv = (1.0 / ar)[:, None]
                            w_re += gb_re * a_re * b_re * inv
                            gA_re = delta * w_re - gb_re * cb_re * inv
                            gB_re = gb_re * q_re
                        else:
                            gA_re = delta * w_re
                            gB_re = gb_re * delta
                            ddelta += gb_re * b_re
                        ddelta += ar[:, None] * w_re
                    tl.store(p_dA_part + o_part + o_kn * S2, tl.sum(gA_re, 1))
                    if HAS_BB:
                        tl.store(p_dBb_part + o_part + o_kn * S2, tl.sum(gB_re, 1))
                    if HAS_CB:
                        tl.store(p_dCb_part + o_part + o_kn * S2, tl.sum(gc_re, 1))
                    if HAS_B:
                        p_dBk = p_dB + ((i_b * H + i_g) * N + k) * L * SB + o_tt * SB
                        tl.atomic_add(p_dBk, tl.sum(gB_re, 0), mask=m_t, sem="relaxed")
                    if HAS_C:
                        p_dCk = p_dC + ((i_b * H + i_g) * N + k) * L * SC + o_tt * SC
                        tl.atomic_add(p_dCk, tl.sum(gc_re, 0), mask=m_t, sem="relaxed")

        if not LOCAL:
            if IS_COMPLEX:
                y_acc = 2.0 * y_acc
            o_row = (i_b * NT + i_tile) * PW + o_r
            if HAS_D:
                y_acc += b_D[:, None] * b_u
                du_acc += b_D[:, None] * b_dy
                tl.store(p_dD_part + o_row, tl.sum(b_dy * b_u, 1), mask=m_r)
            if HAS_Z:  # dout and z read again here rather than kept live through the state loop (registers)
                b_dout = _load_tile(p_dout, o_x, m_x, EVEN)
                b_z = _load_tile(p_z, o_x, m_x, EVEN)
                s = _sigmoid(b_z, FAST)
                dz = b_dout * y_acc * s * (1.0 + b_z * (1.0 - s))
                _store_tile(p_dz, o_x, dz, m_x, EVEN)
            _store_tile(p_du, o_x, du_acc, m_x, EVEN)
            if DT_SOFTPLUS:
                _, b_x = _step_size(p_dt, p_dtb, o_x, o_r, m_x, HAS_DTB, False, DT_INVARIANT, EVEN, FAST)
                ddelta = tl.where(b_x > 20.0, ddelta, ddelta * _sigmoid(b_x, FAST))
            ddelta = tl.where(m_x, ddelta, 0.0)
            if not DT_INVARIANT:
                _store_tile(p_ddt, o_x, ddelta, m_x, EVEN)
            tl.store(p_ddt_part + o_row, tl.sum(ddelta, 1), mask=m_r)
        tl.debug_barrier()  # this tile's outgoing adjoints (written above) are read by the tile to its left

    if LOCAL:
        tl.store(p_sumdt + (i_b * NC + i_c) * D + o_r, sumdt, mask=m_r)


def lane_vector(x, cfg) -> int:
    """``_flip_time``'s V: steps per thread of the backward's [R, T] tiles when their layout is known — one warp,
    time-major inputs of one dtype (u, and dt and z where they are per step), whose 16-byte loads give each thread
    16 / itemsize consecutive steps, and one such run per thread (T = 32 V) — else 0 (``tl.flip``). The layout is
    Triton's choice: with several runs per thread (float32 at T = 256, bf16 at T = 512) ``_next_step``'s reshapes
    lead Triton to a layout of 8 consecutive steps per thread and the flip's lane shuffle pairs the wrong steps
    (gradients off by O(1) on the H200). ``tests/kernels/test_flip_layout.py`` compiles the backward for sm_90
    and checks the layout at every shuffle."""
    steps = [t for t in (x.u, x.dt, x.z) if t is not None and t.dim() == 3]
    v = 16 // x.u.element_size()
    known = (
        x.flags["FAST"]
        and cfg.bwd_num_warps == 1
        and cfg.tile == 32 * v
        and all(t.dtype == x.u.dtype and t.stride(1) == 1 for t in steps)
    )
    return v if known else 0


def next_vector(lane_v: int, tile: int) -> int:
    """``_next_step``'s run length V: the flip's steps per thread where that layout is known (``lane_vector``),
    else runs of up to 8 steps."""
    return lane_v or math.gcd(8, tile)


def launch_backward(x, cfg, dout, ckpt, chunk, grads):
    """Pass 1 and the reverse chunk combination (when the sequence is split), then pass 2.

    The backward's split is its own (``cfg.bwd_n_chunks`` chunks of ``cfg.bwd_tiles_per_chunk`` tiles; the
    checkpoints are per tile); ``chunk`` (b, NC, d, n[, 2]) holds d last_state in slot NC − 1 on entry;
    ``grads`` is the record of the buffers the kernels write (``autograd.Grads``).
    """
    grid = (x.d // cfg.bwd_block_r, x.b, cfg.bwd_n_chunks)
    lane_v = lane_vector(x, cfg)
    g = grads
    common = dict(
        scan_constants(x, cfg), NC=cfg.bwd_n_chunks, K=cfg.bwd_tiles_per_chunk, PW=g.parts.shape[-1], LANE_V=lane_v,
        NEXT_V=next_vector(lane_v, cfg.tile), STAGES=cfg.bwd_stages, BLOCK_R=cfg.bwd_block_r,
        num_warps=cfg.bwd_num_warps, UNROLL=cfg.bwd_unroll, **({"maxnreg": cfg.bwd_maxnreg} if cfg.bwd_maxnreg else {}),
    )  # fmt: skip
    tensors = (
        x.u, x.dt, x.A, x.B, x.C, x.B_bias, x.C_bias, x.D, x.z, x.dt_bias, dout, ckpt, chunk, g.sumdt, g.adj,
        g.du, g.ddt, g.dz, g.dB, g.dC, g.dA_part, g.dBb_part, g.dCb_part, g.dD_part, g.ddt_part, g.dh0,
    )  # fmt: skip
    if cfg.bwd_n_chunks > 1:  # chunks 1 … NC−1: the first chunk's carry from zero would not be used
        _bwd_kernel[grid[:2] + (cfg.bwd_n_chunks - 1,)](*tensors, C0=1, LOCAL=True, **common)
        launch_combine(x, cfg.bwd_n_chunks, chunk, g.sumdt, reverse=True)
    _bwd_kernel[grid](*tensors, C0=0, LOCAL=False, **common)

"""The ops on CPU tensors (the library's float64 reference): registration, tracing, results,
errors. Runs everywhere; the kernels are covered by test_gpu.py."""
from __future__ import annotations

import math

import pytest
import torch

import splitmla
from splitmla import flashinfer, flashmla
from conftest import (assert_close_to_reference, dequantized, f32, fp8_ds_mla_cache,
                      fp8_e4m3_cache, make_problem, reference)

SCALE = 1.0 / math.sqrt(192) * 1.3


def make_plan(*args, **kwargs):
    """Plans for the CPU op: without a device, make_plan picks the current CUDA device when the
    machine has one, and a CUDA workspace cannot serve CPU tensors."""
    kwargs.setdefault("device", "cpu")
    return splitmla.make_plan(*args, **kwargs)


def _decode_out_args(q, kv, table, sl, plan, lse=True):
    b, _, h, _ = q.shape
    out = torch.full((b, 1, h, 512), float("nan"), dtype=q.dtype)
    l = torch.full((b, 1, h), float("nan"), dtype=torch.float32) if lse else None
    return (q, kv, table, sl, out, l, plan.new_workspace(), *plan.op_args(), SCALE)


# ---------------------------------------------------------------- registration and tracing

@pytest.mark.parametrize("requires_grad", [False, True])
def test_opcheck_decode_out(requires_grad):
    q, kv, table, sl = make_problem(3, 5, 16, [0, 17, 40])
    plan = make_plan(5, 16, 3, table.shape[1])
    q.requires_grad_(requires_grad)
    args = _decode_out_args(q, kv, table, sl, plan)
    torch.library.opcheck(torch.ops.splitmla.decode_out.default, args, {"causal": True})
    # and without lse (the optional mutable output)
    args = _decode_out_args(q, kv, table, sl, plan, lse=False)
    torch.library.opcheck(torch.ops.splitmla.decode_out.default, args)


@pytest.mark.parametrize("requires_grad", [False, True])
def test_opcheck_decode(requires_grad):
    q, kv, table, sl = make_problem(2, 3, 4, [9, 1])
    plan = make_plan(3, 4, 2, table.shape[1])
    q.requires_grad_(requires_grad)
    torch.library.opcheck(torch.ops.splitmla.decode.default,
                          (q, kv, table, sl, *plan.op_args(), SCALE), {"causal": True})


def test_opcheck_workspace_size():
    result = torch.library.opcheck(torch.ops.splitmla.workspace_size.default,
                                   (16, 64, 4, 8, torch.bfloat16, 0, 0, 132, 0, 0))
    assert set(result.values()) == {"SUCCESS"} and len(result) == 4
    assert torch.ops.splitmla.workspace_size(16, 64, 4, 8, torch.bfloat16, 0, 0, 132, 0, 0) == \
        make_plan(16, 64, 4, 8, num_sms=132, device="cpu").workspace_bytes


def test_decode_outputs_do_not_require_grad():
    """No backward exists: the outputs must not pretend to be differentiable."""
    q, kv, table, sl = make_problem(1, 2, 8, [5])
    plan = make_plan(2, 8, 1, table.shape[1])
    out, lse = torch.ops.splitmla.decode(q.requires_grad_(), kv, table, sl, *plan.op_args(), SCALE)
    assert not out.requires_grad and not lse.requires_grad


def _count_graph_breaks(fn, *args):
    import torch._dynamo
    torch._dynamo.reset()
    explanation = torch._dynamo.explain(fn)(*args)
    return explanation.graph_break_count, explanation.graph_count


def test_compile_fullgraph_decode():
    q, kv, table, sl = make_problem(3, 4, 8, [3, 0, 21])
    plan = make_plan(4, 8, 3, table.shape[1])

    def step(q, kv, table, sl):
        out, lse = torch.ops.splitmla.decode(q, kv, table, sl, *plan.op_args(), SCALE)
        return out.float() * 2.0, lse + 1.0

    breaks, graphs = _count_graph_breaks(step, q, kv, table, sl)
    assert (breaks, graphs) == (0, 1)
    torch._dynamo.reset()
    compiled = torch.compile(step, fullgraph=True, backend="aot_eager")
    got = compiled(q, kv, table, sl)
    want = step(q, kv, table, sl)
    assert torch.equal(got[0], want[0]) and torch.equal(got[1], want[1])


def test_compile_fullgraph_decode_out():
    q, kv, table, sl = make_problem(2, 3, 16, [30, 7])
    plan = make_plan(3, 16, 2, table.shape[1])
    ws = plan.new_workspace()

    def step(q, kv, table, sl, out, lse):
        torch.ops.splitmla.decode_out(q, kv, table, sl, out, lse, ws, *plan.op_args(), SCALE)
        return out.sum(dim=-1)

    def buffers():
        return (torch.zeros(2, 1, 3, 512, dtype=q.dtype), torch.zeros(2, 1, 3))

    breaks, graphs = _count_graph_breaks(step, q, kv, table, sl, *buffers())
    assert (breaks, graphs) == (0, 1)
    torch._dynamo.reset()
    compiled = torch.compile(step, fullgraph=True, backend="inductor")
    o1, l1 = buffers()
    o2, l2 = buffers()
    r1 = compiled(q, kv, table, sl, o1, l1)
    r2 = step(q, kv, table, sl, o2, l2)
    assert torch.equal(o1, o2) and torch.equal(l1, l2) and torch.equal(r1, r2)
    assert torch.isfinite(l1).all()  # the compiled graph really wrote the caller's buffers


# ---------------------------------------------------------------- results

@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
@pytest.mark.parametrize("page_size", splitmla.SUPPORTED_PAGE_SIZES)
def test_cpu_matches_float64_reference(dtype, page_size):
    lens = [0, 1, page_size - 1 if page_size > 1 else 2, page_size, page_size + 1, 3 * page_size + 5]
    heads = 3
    q, kv, table, sl = make_problem(len(lens), heads, page_size, lens, dtype=dtype, seed=page_size)
    plan = make_plan(heads, page_size, len(lens), table.shape[1], dtype=dtype)
    out, lse = splitmla.decode(q, kv, table, sl, SCALE, plan)
    ref_out, ref_lse = reference(q, kv, table, sl, SCALE)
    assert_close_to_reference(out, lse, ref_out, ref_lse, dtype)
    # The CPU op is the float64 reference rounded once: within one rounding of the output dtype.
    # (relative spacing of the dtype; fp16 also has subnormals below 2^-14, spaced 2^-24)
    ulp, sub = (2.0 ** -8, 1e-38) if dtype == torch.bfloat16 else (2.0 ** -11, 2.0 ** -24)
    excess = float(((out.double() - ref_out).abs() - ulp * ref_out.abs() - sub).max())
    assert excess <= 0, f"out exceeds one rounding of the float64 reference by {excess}"
    fin = torch.isfinite(ref_lse)
    assert float((lse.double()[fin] - ref_lse[fin]).abs().max()) <= 1e-5 * max(1.0, float(ref_lse[fin].abs().max()))
    # empty requests: out = 0, lse = -inf
    assert torch.equal(out[0], torch.zeros_like(out[0])) and bool(torch.isneginf(lse[0]).all())


def test_decode_out_matches_functional_and_respects_strides():
    q, kv, table, sl = make_problem(3, 7, 32, [50, 0, 64])
    plan = make_plan(7, 32, 3, table.shape[1])
    out_f, lse_f = torch.ops.splitmla.decode(q, kv, table, sl, *plan.op_args(), SCALE)
    # out as a slice of a wider buffer, lse as a transposed [b, h, 1] buffer (FlashMLA's layout)
    big = torch.full((3, 1, 7, 1024), 5.0, dtype=q.dtype)
    out = big[..., 256:768]
    lse_bh = torch.full((3, 7, 1), 5.0)
    torch.ops.splitmla.decode_out(q, kv, table, sl, out, lse_bh.transpose(1, 2), plan.new_workspace(),
                                  *plan.op_args(), SCALE)
    assert torch.equal(out, out_f) and torch.equal(lse_bh.transpose(1, 2), lse_f)
    assert bool((big[..., :256] == 5).all() and (big[..., 768:] == 5).all()), "wrote outside out"


def test_bad_device_data_gives_nan_rows_not_exceptions():
    q, kv, table, sl = make_problem(3, 2, 8, [10, 10, 10], poison=False)
    table[1, 0] = kv.shape[0]          # page id out of range, in the visible part
    sl[2] = table.shape[1] * 8 + 1     # length beyond the table
    plan = make_plan(2, 8, 3, table.shape[1])
    out, lse = splitmla.decode(q, kv, table, sl, SCALE, plan)
    assert torch.isfinite(out[0]).all() and torch.isnan(out[1]).all() and torch.isnan(out[2]).all()


# ---------------------------------------------------------------- errors name the field

def test_errors_name_field_and_value():
    q, kv, table, sl = make_problem(2, 4, 16, [5, 9])
    plan = make_plan(4, 16, 2, table.shape[1])
    args = lambda **kw: {**dict(q=q, kv=kv, table=table, sl=sl, plan=plan, scale=SCALE), **kw}

    def run(a):
        return splitmla.decode(a["q"], a["kv"], a["table"], a["sl"], a["scale"], a["plan"])

    cases = [
        (dict(scale=0.0), ValueError, "kBadSoftmaxScale: softmax_scale = 0"),
        (dict(scale=float("nan")), ValueError, "softmax_scale = nan"),
        (dict(plan=make_plan(4, 16, 1, table.shape[1])), ValueError,
         "kBadBatch: batch = 2, must be in 1..max_batch (1)"),
        (dict(plan=make_plan(4, 16, 2, 1)), ValueError,
         f"kBadShape: max_pages_per_seq = {table.shape[1]}, must be in 1..1 (planned)"),
        (dict(kv=kv.float()), ValueError, "kv_cache.dtype = Float"),
        (dict(q=q.half()), ValueError, "kv_cache.dtype = BFloat16, must equal q.dtype = Half"),
        (dict(table=table.long()), ValueError, "block_table.dtype = Long, must be torch.int32"),
        (dict(sl=sl[:1]), ValueError, "seq_lens.size(0) = 1, must be batch = q.size(0) = 2"),
        (dict(q=q[..., :512]), ValueError, "q.size(3) = 512, must be 576"),
        (dict(kv=kv[:, ::2]), ValueError, "kv_cache.stride()"),
    ]
    for kw, exc, text in cases:
        with pytest.raises(exc) as info:
            run(args(**kw))
        assert text in str(info.value), (kw.keys(), str(info.value))


def test_plan_errors_name_field_and_value():
    with pytest.raises(ValueError, match=r"kBadNumHeads: num_heads = 129, must be in 1\.\.128"):
        make_plan(129, 64, 1, 1)
    with pytest.raises(ValueError, match=r"kBadPageSize: page_size = 48"):
        make_plan(16, 48, 1, 1)
    with pytest.raises(ValueError, match=r"kBadPolicy: policy.value = 0 \(forced splits\)"):
        make_plan(16, 64, 1, 1, policy=("forced", 0))
    with pytest.raises(ValueError, match=r"kBadShape: q_len = 17, must be in 1\.\.16"):
        make_plan(16, 64, 1, 1, q_len=17)
    # The wgmma kernel takes several tokens too (64-row blocks of q_len x heads rows).
    assert make_plan(16, 64, 1, 1, q_len=2, part1="wgmma").workspace_bytes > 0


def test_q_len_above_one_follows_the_causal_rule():
    """q_len 2: token t sees seq_len - 2 + t + 1 positions when causal, seq_len when not; each
    token's row equals a q_len 1 decode over its own positions (the CPU op is the reference)."""
    q, kv, table, sl = make_problem(2, 3, 4, [6, 1])
    plan = make_plan(3, 4, 2, table.shape[1], q_len=2)
    assert plan.q_len == 2
    q2 = torch.cat([q, q.flip(-1)], dim=1)
    for causal in (True, False):
        out, lse = torch.ops.splitmla.decode(q2, kv, table, sl, *plan.op_args(), SCALE, causal=causal)
        assert out.shape == (2, 2, 3, 512) and lse.shape == (2, 2, 3)
        for t in range(2):
            lens = sl if not causal else torch.clamp(sl - 2 + t + 1, min=0).to(torch.int32)
            plan1 = make_plan(3, 4, 2, table.shape[1])
            o1, l1 = torch.ops.splitmla.decode(q2[:, t:t + 1].contiguous(), kv, table, lens,
                                               *plan1.op_args(), SCALE)
            assert torch.equal(out[:, t:t + 1], o1), (causal, t)
            assert torch.equal(lse[:, t:t + 1], l1), (causal, t)
        if causal:  # request 1 (seq_len 1): token 0 sees nothing
            assert bool((out[1, 0] == 0).all()) and bool(torch.isneginf(lse[1, 0]).all())
        else:
            assert bool(torch.isfinite(lse).all())


def test_workspace_too_small_and_stray_kv_scale_refused():
    q, kv, table, sl = make_problem(1, 2, 8, [4])
    plan = make_plan(2, 8, 1, table.shape[1])
    out = torch.empty(1, 1, 2, 512, dtype=q.dtype)
    small = torch.empty(plan.workspace_bytes - 1, dtype=torch.uint8)
    with pytest.raises(ValueError, match=rf"kWorkspaceTooSmall: workspace.numel\(\) = {plan.workspace_bytes - 1} bytes, the plan needs {plan.workspace_bytes}"):
        torch.ops.splitmla.decode_out(q, kv, table, sl, out, None, small, *plan.op_args(), SCALE)
    with pytest.raises(ValueError, match="kv_scale is given for a BFloat16 cache"):
        torch.ops.splitmla.decode_out(q, kv, table, sl, out, None, plan.new_workspace(),
                                      *plan.op_args(), SCALE, torch.ones(1))


# ---------------------------------------------------------------- fp8 caches

@pytest.mark.parametrize("kind", ["fp8_e4m3", "fp8_ds_mla"])
@pytest.mark.parametrize("page_size", [1, 16, 64])
def test_cpu_fp8_caches_match_the_dequantized_reference(kind, page_size):
    """Both fp8 layouts, read byte for byte: the op equals the float64 reference on the
    dequantized cache (power-of-two scales: e4m3 * scale is exact)."""
    lens = [0, page_size + 3, 3 * page_size + 1]
    q, kv, table, sl = make_problem(3, 5, page_size, lens, seed=21 + page_size)
    kv = torch.nan_to_num(kv)  # the poison rows past each length stay finite here
    if kind == "fp8_e4m3":
        scale = torch.tensor([0.0625])
        cache = fp8_e4m3_cache(kv, float(scale))
        kv_scale, deq = scale, dequantized(cache, kind, float(scale))
    else:
        cache = fp8_ds_mla_cache(kv, torch.tensor([0.125, 0.0625, 0.25, 0.03125]))
        kv_scale, deq = None, dequantized(cache, kind, None)
    plan = make_plan(5, page_size, 3, table.shape[1], kv_format=kind)
    for causal in (True, False):
        out, lse = torch.ops.splitmla.decode(q, cache, table, sl, *plan.op_args(), SCALE,
                                             kv_scale, causal)
        ref_out, ref_lse = reference(q, deq, table, sl, SCALE)
        assert_close_to_reference(out, lse, ref_out, ref_lse, q.dtype)
    # the same through decode_out with the caller's workspace, and the float8 dtype view
    out2 = torch.empty_like(out)
    lse2 = torch.empty_like(lse)
    torch.ops.splitmla.decode_out(q, cache.view(torch.float8_e4m3fn), table, sl, out2, lse2,
                                  plan.new_workspace(), *plan.op_args(), SCALE, kv_scale, False)
    assert torch.equal(out2, out) and torch.equal(lse2, lse)


def test_flashmla_adapter_fp8_cache():
    """FlashMLA's fp8 cache ([blocks, page, 1, 656] uint8) through the dense decode."""
    q, kv, table, sl = make_problem(2, 6, 64, [70, 5], seed=13)
    cache = fp8_ds_mla_cache(kv.nan_to_num(), torch.tensor([0.0625, 0.125, 0.0625, 0.25]))
    meta, splits = flashmla.get_mla_metadata(sl, 6, 1, is_fp8_kvcache=True)
    out, lse = flashmla.flash_mla_with_kvcache(q, cache.unsqueeze(2), table, sl, 512, meta, splits,
                                               softmax_scale=SCALE, causal=True,
                                               is_fp8_kvcache=True)
    ref_out, ref_lse = reference(q, dequantized(cache, "fp8_ds_mla", None), table, sl, SCALE)
    assert_close_to_reference(out, lse.transpose(1, 2), ref_out, ref_lse, q.dtype)
    with pytest.raises(ValueError, match="must be uint8 rows of 656 bytes"):
        flashmla.flash_mla_with_kvcache(q, kv.unsqueeze(2), table, sl, 512, meta, splits,
                                        softmax_scale=SCALE, is_fp8_kvcache=True)


def test_fp8_errors_name_field_and_value():
    q, kv, table, sl = make_problem(1, 2, 8, [4])
    plan = make_plan(2, 8, 1, table.shape[1], kv_format="fp8_e4m3")
    e4 = fp8_e4m3_cache(kv.nan_to_num(), 0.5)
    run = lambda cache, scale: torch.ops.splitmla.decode(q, cache, table, sl, *plan.op_args(),
                                                          SCALE, scale)
    with pytest.raises(ValueError, match="fp8_e4m3 cache .* kv_scale \\(one float32\\) is required"):
        run(e4, None)
    with pytest.raises(ValueError, match="kv_scale.shape = \\[2\\]"):
        run(e4, torch.ones(2))
    with pytest.raises(ValueError, match="kv_scale is given for an fp8_ds_mla cache"):
        run(torch.zeros(*kv.shape[:-1], 656, dtype=torch.uint8), torch.ones(1))
    with pytest.raises(ValueError, match="kv_cache.size\\(-1\\) = 600"):
        run(torch.zeros(*kv.shape[:-1], 600, dtype=torch.uint8), None)
    with pytest.raises(ValueError, match="kv_format = 'fp4'"):
        make_plan(2, 8, 1, 1, kv_format="fp4")
    # A bad scale is bad device data: NaN rows, no exception (as in C++).
    out, lse = run(e4, torch.tensor([float("nan")]))
    assert torch.isnan(out).all()


def test_cpu_needs_num_sms():
    q, kv, table, sl = make_problem(1, 2, 8, [4])
    plan = make_plan(2, 8, 1, table.shape[1])
    fields = list(plan.op_args())
    fields[4] = 0
    with pytest.raises(ValueError, match="num_sms = 0 asks the device"):
        torch.ops.splitmla.decode_out(q, kv, table, sl, torch.empty(1, 1, 2, 512, dtype=q.dtype),
                                      None, plan.new_workspace(), *fields, SCALE)


# ---------------------------------------------------------------- adapters

@pytest.mark.parametrize("page_size", splitmla.SUPPORTED_PAGE_SIZES)
def test_flashmla_adapter(page_size):
    lens = [page_size * 2 + 1, 0, 3]
    q, kv, table, sl = make_problem(3, 6, page_size, lens, seed=7)
    k_cache = kv.unsqueeze(2)                       # FlashMLA: [num_blocks, page, 1, 576]
    meta, splits = flashmla.get_mla_metadata(sl, 6, 1)
    out, lse = flashmla.flash_mla_with_kvcache(q, k_cache, table, sl, 512, meta, splits,
                                               softmax_scale=SCALE, causal=True)
    assert out.shape == (3, 1, 6, 512) and lse.shape == (3, 6, 1)
    ref_out, ref_lse = reference(q, kv, table, sl, SCALE)
    assert_close_to_reference(out, lse.transpose(1, 2), ref_out, ref_lse, q.dtype)
    o2, l2 = splitmla.decode(q, kv, table, sl, SCALE, make_plan(6, page_size, 3, table.shape[1]))
    assert torch.equal(out, o2) and torch.equal(lse.transpose(1, 2), l2)


def test_flashmla_adapter_refusals():
    sl = torch.tensor([4], dtype=torch.int32)
    with pytest.raises(ValueError, match="num_heads_k = 2"):
        flashmla.get_mla_metadata(sl, 16, 2)
    with pytest.raises(ValueError, match="s_q in 1..16"):
        flashmla.get_mla_metadata(sl, 40, 1, num_heads_q=16)


@pytest.mark.parametrize("with_heads_q", [True, False])
def test_flashmla_adapter_multi_token(with_heads_q):
    """s_q = 2 (multi-token prediction): FlashMLA's causal rule, the same numbers as the op."""
    q, kv, table, sl = make_problem(3, 5, 16, [40, 1, 17], seed=5)
    q2 = torch.cat([q, q.flip(-1)], dim=1)             # [3, 2, 5, 576]
    meta, splits = flashmla.get_mla_metadata(sl, 2 * 5, 1, num_heads_q=5 if with_heads_q else None)
    for causal in (True, False):
        out, lse = flashmla.flash_mla_with_kvcache(q2, kv.unsqueeze(2), table, sl, 512, meta, splits,
                                                   softmax_scale=SCALE, causal=causal)
        assert out.shape == (3, 2, 5, 512) and lse.shape == (3, 5, 2)
        plan = make_plan(5, 16, 3, table.shape[1], q_len=2)
        o2, l2 = torch.ops.splitmla.decode(q2, kv, table, sl, *plan.op_args(), SCALE, causal=causal)
        assert torch.equal(out, o2) and torch.equal(lse.transpose(1, 2), l2), causal
    with pytest.raises(ValueError, match="s_q \\* h_q = 15"):
        flashmla.flash_mla_with_kvcache(torch.cat([q2, q], dim=1), kv.unsqueeze(2), table, sl, 512,
                                        meta, splits, softmax_scale=SCALE)


@pytest.mark.parametrize("page_size", splitmla.SUPPORTED_PAGE_SIZES)
@pytest.mark.parametrize("packed_q", [True, False])
def test_flashinfer_wrapper(page_size, packed_q):
    lens = [0, 5, page_size * 3 + 2]
    q, kv, table, sl = make_problem(3, 4, page_size, lens, seed=3)
    # FlashInfer's CSR page lists from the padded table
    counts = [-(-n // page_size) for n in lens]
    kv_indptr = torch.tensor([0] + list(torch.tensor(counts).cumsum(0)), dtype=torch.int32)
    kv_indices = torch.cat([table[b, :c] for b, c in enumerate(counts)])
    qo_indptr = torch.arange(4, dtype=torch.int32)
    ckv, kpe = flashinfer.split_kv_cache(kv)
    if packed_q:
        q_nope, q_pe = q[:, 0, :, :512], q[:, 0, :, 512:]
    else:
        q_nope, q_pe = q[:, 0, :, :512].clone(), q[:, 0, :, 512:].clone()
    w = flashinfer.BatchMLAPagedAttentionWrapper(torch.empty(64 << 20, dtype=torch.uint8))
    w.plan(qo_indptr, kv_indptr, kv_indices, sl, 4, 512, 64, page_size, True, SCALE,
           torch.bfloat16, torch.bfloat16)
    out, lse2 = w.run(q_nope, q_pe, ckv, kpe, return_lse=True)
    ref_out, ref_lse = reference(q, kv, table, sl, SCALE)
    assert out.shape == (3, 4, 512) and lse2.shape == (3, 4)
    assert_close_to_reference(out.unsqueeze(1), (lse2 * math.log(2)).unsqueeze(1), ref_out, ref_lse, q.dtype)
    out_e, lse_e = w.run(q_nope, q_pe, ckv, kpe, return_lse=True, return_lse_base_on_e=True)
    assert torch.equal(out_e, out)
    assert torch.allclose(lse_e, lse2 * math.log(2), rtol=1e-6, atol=0)  # -inf rows compare equal
    assert torch.equal(w.run(q_nope, q_pe, ckv, kpe), out)


def _csr(table, lens, page_size):
    counts = [-(-int(n) // page_size) for n in lens]
    indptr = torch.tensor([0] + torch.tensor(counts).cumsum(0).tolist(), dtype=torch.int32)
    indices = torch.cat([table[b, :c].cpu() for b, c in enumerate(counts)])
    return indptr, indices


def test_flashinfer_wrapper_cuda_graph_mode_keeps_buffers():
    """use_cuda_graph=True: a second plan rewrites the same block-table and length buffers (a
    captured run reads them) and gives the new step's results."""
    q, kv, table, sl = make_problem(3, 4, 16, [40, 0, 33], seed=11)
    w = flashinfer.BatchMLAPagedAttentionWrapper(torch.empty(64 << 20, dtype=torch.uint8),
                                                 use_cuda_graph=True)
    ckv, kpe = flashinfer.split_kv_cache(kv)
    qo = torch.arange(4, dtype=torch.int32)
    w.plan(qo, *_csr(table, sl, 16), sl, 4, 512, 64, 16, True, SCALE, torch.bfloat16, torch.bfloat16)
    addresses = (w._block_table.data_ptr(), w._seq_lens.data_ptr())
    sl2 = torch.tensor([7, 0, 20], dtype=torch.int32)  # within each row's visible rows
    w.plan(qo, *_csr(table, sl2, 16), sl2, 4, 512, 64, 16, True, SCALE, torch.bfloat16, torch.bfloat16)
    assert (w._block_table.data_ptr(), w._seq_lens.data_ptr()) == addresses
    out, lse = w.run(q[:, 0, :, :512], q[:, 0, :, 512:], ckv, kpe, return_lse=True,
                     return_lse_base_on_e=True)
    ref_out, ref_lse = reference(q, kv, table, sl2, SCALE)
    assert_close_to_reference(out.unsqueeze(1), lse.unsqueeze(1), ref_out, ref_lse, q.dtype)
    with pytest.raises(ValueError, match="exceed the first plan's bounds"):
        w.plan(torch.arange(5, dtype=torch.int32), *_csr(torch.cat([table, table[:1]]), [1, 1, 1, 1], 16),
               torch.ones(4, dtype=torch.int32), 4, 512, 64, 16, True, SCALE, torch.bfloat16, torch.bfloat16)


def test_flashinfer_wrapper_multi_token():
    """Two query tokens per request in FlashInfer's ragged layout ([batch * 2, heads, ...] rows,
    request-major) give the op's q_len = 2 results; ragged token counts are refused."""
    q, kv, table, sl = make_problem(3, 4, 8, [30, 2, 9], seed=9)
    q2 = torch.cat([q, q.flip(-1)], dim=1)               # [3, 2, 4, 576]
    flat = q2.reshape(6, 4, 576)
    ckv, kpe = flashinfer.split_kv_cache(kv)
    w = flashinfer.BatchMLAPagedAttentionWrapper(torch.empty(64 << 20, dtype=torch.uint8))
    qo = torch.arange(0, 7, 2, dtype=torch.int32)
    w.plan(qo, *_csr(table, sl, 8), sl, 4, 512, 64, 8, True, SCALE, torch.bfloat16, torch.bfloat16)
    out, lse = w.run(flat[..., :512], flat[..., 512:], ckv, kpe, return_lse=True,
                     return_lse_base_on_e=True)
    plan = make_plan(4, 8, 3, table.shape[1], q_len=2)
    o2, l2 = torch.ops.splitmla.decode(q2, kv, table, sl, *plan.op_args(), SCALE, causal=True)
    assert out.shape == (6, 4, 512) and lse.shape == (6, 4)
    assert torch.equal(out, o2.reshape(6, 4, 512)) and torch.equal(lse, l2.reshape(6, 4))
    with pytest.raises(NotImplementedError, match="same number of query tokens"):
        w.plan(torch.tensor([0, 1, 3, 4], dtype=torch.int32), *_csr(table, sl, 8), sl, 4, 512, 64, 8,
               True, SCALE, torch.bfloat16, torch.bfloat16)


def test_flashinfer_wrapper_refuses_separate_caches():
    q, kv, table, sl = make_problem(1, 2, 8, [4])
    w = flashinfer.BatchMLAPagedAttentionWrapper(torch.empty(64 << 20, dtype=torch.uint8))
    w.plan(torch.tensor([0, 1]), torch.tensor([0, 1]), table[0, :1], sl, 2, 512, 64, 8, True,
           SCALE, torch.bfloat16, torch.bfloat16)
    ckv, kpe = kv[..., :512].clone(), kv[..., 512:].clone()
    with pytest.raises(ValueError, match="views of one"):
        w.run(q[:, 0, :, :512], q[:, 0, :, 512:], ckv, kpe)

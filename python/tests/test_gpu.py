"""The ops on CUDA tensors (the kernels). Every test skips with a reason when there is no CUDA
device; run on the H200 with `bash .ci/python.sh` (or pytest python/tests -rs -s)."""
from __future__ import annotations

import math
import statistics
import time

import pytest
import torch

import splitmla
from splitmla import flashinfer, flashmla
from conftest import (assert_close_to_reference, dequantized, fp8_ds_mla_cache, fp8_e4m3_cache,
                      has_cuda, make_problem, reference, requires_cuda)

pytestmark = requires_cuda
SCALE = 1.0 / math.sqrt(192) * 1.3
DEV = "cuda"


def _problem(batch, heads, page, lens, dtype=torch.bfloat16, seed=0):
    return make_problem(batch, heads, page, lens, dtype=dtype, device=DEV, seed=seed)


def _adversarial_lengths(g, batch, page, max_len):
    """Zero-length requests and lengths one below / at / one above page and tile (64) edges."""
    edges = [0, 1, page - 1, page, page + 1, 63, 64, 65, 2 * page + 1]
    lens = []
    for b in range(batch):
        if b % 4 == 0:
            lens.append(0)
        elif b % 4 == 1:
            lens.append(max(0, min(max_len, edges[int(torch.randint(len(edges), (1,), generator=g))])))
        else:
            lens.append(int(torch.randint(max_len + 1, (1,), generator=g)))
    return lens


# ---------------------------------------------------------------- registration on CUDA

def test_opcheck_cuda():
    q, kv, table, sl = _problem(3, 5, 16, [0, 17, 40])
    plan = splitmla.make_plan(5, 16, 3, table.shape[1], device=DEV)
    out = torch.empty(3, 1, 5, 512, dtype=q.dtype, device=DEV)
    lse = torch.empty(3, 1, 5, device=DEV)
    torch.library.opcheck(torch.ops.splitmla.decode_out.default,
                          (q, kv, table, sl, out, lse, plan.new_workspace(), *plan.op_args(), SCALE))
    torch.library.opcheck(torch.ops.splitmla.decode.default,
                          (q.requires_grad_(), kv, table, sl, *plan.op_args(), SCALE))


# ---------------------------------------------------------------- parity

@pytest.mark.parametrize("policy", ["auto", ("forced", 3), ("chunk", 64)])
@pytest.mark.parametrize("heads", [16, 128])
def test_bitwise_parity_with_cxx_api(policy, heads):
    """The op's marshalling (strides, plan fields, workspace, stream) changes nothing: outputs
    equal, bit for bit, those of the C++ API called as the README shows."""
    lens = [0, 1, 64, 65, 1000, 4097, 33]
    q, kv, table, sl = _problem(len(lens), heads, 64, lens, seed=heads)
    plan = splitmla.make_plan(heads, 64, len(lens), table.shape[1], policy=policy, device=DEV)
    out, lse = splitmla.decode(q, kv, table, sl, SCALE, plan, workspace=plan.new_workspace())
    c_out, c_lse = torch.ops.splitmla_testing.cxx_api_decode(q, kv, table, sl, *plan.op_args(), SCALE)
    torch.cuda.synchronize()
    assert torch.equal(out.view(torch.int16), c_out.view(torch.int16))
    assert torch.equal(lse.view(torch.int32), c_lse.view(torch.int32))
    f_out, f_lse = torch.ops.splitmla.decode(q, kv, table, sl, *plan.op_args(), SCALE)
    assert torch.equal(f_out.view(torch.int16), c_out.view(torch.int16))
    assert torch.equal(f_lse.view(torch.int32), c_lse.view(torch.int32))


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
@pytest.mark.parametrize("heads", [1, 3, 63, 128])
@pytest.mark.parametrize("page", [1, 16, 64, 128])
@pytest.mark.parametrize("policy", ["auto", ("forced", 5), ("chunk", 100)])
def test_parity_with_float64_reference(dtype, heads, page, policy):
    g = torch.Generator().manual_seed(heads * 1000 + page)
    batch = 9
    lens = _adversarial_lengths(g, batch, page, 1500)
    q, kv, table, sl = _problem(batch, heads, page, lens, dtype=dtype, seed=heads + page)
    plan = splitmla.make_plan(heads, page, batch, table.shape[1], dtype=dtype, policy=policy, device=DEV)
    out = torch.full((batch, 1, heads, 512), float("nan"), dtype=dtype, device=DEV)
    lse = torch.full((batch, 1, heads), float("nan"), device=DEV)
    splitmla.decode(q, kv, table, sl, SCALE, plan, workspace=plan.new_workspace(), out=out, lse=lse)
    ref_out, ref_lse = reference(q, kv, table, sl, SCALE)
    assert_close_to_reference(out, lse, ref_out, ref_lse, dtype)


@pytest.mark.parametrize("kind", ["fp8_e4m3", "fp8_ds_mla"])
@pytest.mark.parametrize("heads", [16, 128])
@pytest.mark.parametrize("page", [1, 64])
def test_fp8_caches_on_the_gpu(kind, heads, page):
    """Both fp8 layouts on CUDA: against the float64 reference on the dequantized cache, and a
    CUDA-graph replay after new cache bytes and a new scale equals an eager call bit for bit."""
    g = torch.Generator().manual_seed(heads + page)
    batch = 6
    lens = _adversarial_lengths(g, batch, page, 900)
    q, kv, table, sl = _problem(batch, heads, page, lens, seed=heads * 7 + page)
    kv = kv.nan_to_num()
    if kind == "fp8_e4m3":
        scale = torch.tensor([0.0625], device=DEV)
        cache = fp8_e4m3_cache(kv, 0.0625)
    else:
        scale = None
        cache = fp8_ds_mla_cache(kv, torch.tensor([0.125, 0.0625, 0.25, 0.03125], device=DEV))
    plan = splitmla.make_plan(heads, page, batch, table.shape[1], device=DEV, kv_format=kind)
    ws = plan.new_workspace()
    out, lse = splitmla.decode(q, cache, table, sl, SCALE, plan, workspace=ws, kv_scale=scale)
    deq = dequantized(cache.cpu(), kind, 0.0625 if scale is not None else None)
    ref_out, ref_lse = reference(q, deq, table, sl, SCALE)
    assert_close_to_reference(out, lse, ref_out, ref_lse, q.dtype)
    graph = torch.cuda.CUDAGraph()
    o_g, l_g = torch.empty_like(out), torch.empty_like(lse)
    torch.cuda.synchronize()
    with torch.cuda.graph(graph):
        splitmla.decode(q, cache, table, sl, SCALE, plan, workspace=ws, out=o_g, lse=l_g,
                        kv_scale=scale)
    cache.copy_(cache.flip(1))  # new bytes in place
    if scale is not None:
        scale.fill_(0.125)
    graph.replay()
    o_e, l_e = splitmla.decode(q, cache, table, sl, SCALE, plan, workspace=ws, kv_scale=scale)
    torch.cuda.synchronize()
    assert torch.equal(o_g, o_e) and torch.equal(l_g, l_e)


def test_every_page_size_and_both_adapters_match_the_op():
    for page in splitmla.SUPPORTED_PAGE_SIZES:
        lens = [0, 3 * page + 1, 70]
        q, kv, table, sl = _problem(3, 16, page, lens, seed=page)
        plan = splitmla.make_plan(16, page, 3, table.shape[1], device=DEV)
        out, lse = splitmla.decode(q, kv, table, sl, SCALE, plan, workspace=plan.new_workspace())
        meta, splits = flashmla.get_mla_metadata(sl, 16, 1)
        fo, fl = flashmla.flash_mla_with_kvcache(q, kv.unsqueeze(2), table, sl, 512, meta, splits,
                                                 softmax_scale=SCALE, causal=True)
        assert torch.equal(fo, out) and torch.equal(fl.transpose(1, 2), lse), f"flashmla, page {page}"
        counts = [-(-n // page) for n in lens]
        kv_indptr = torch.tensor([0] + torch.tensor(counts).cumsum(0).tolist(), dtype=torch.int32)
        kv_indices = torch.cat([table[b, :c].cpu() for b, c in enumerate(counts)])
        w = flashinfer.BatchMLAPagedAttentionWrapper(torch.empty(128 << 20, dtype=torch.uint8, device=DEV))
        w.plan(torch.arange(4, dtype=torch.int32), kv_indptr, kv_indices, sl, 16, 512, 64, page,
               True, SCALE, torch.bfloat16, torch.bfloat16)
        ckv, kpe = flashinfer.split_kv_cache(kv)
        wo, wl = w.run(q[:, 0, :, :512], q[:, 0, :, 512:], ckv, kpe, return_lse=True,
                       return_lse_base_on_e=True)
        assert torch.equal(wo, out[:, 0]) and torch.equal(wl, lse[:, 0]), f"flashinfer, page {page}"


def test_device_guard_and_current_stream():
    q, kv, table, sl = _problem(4, 16, 64, [5, 700, 0, 64])
    plan = splitmla.make_plan(16, 64, 4, table.shape[1], device=DEV)
    ref_out, ref_lse = splitmla.decode(q, kv, table, sl, SCALE, plan, workspace=plan.new_workspace())
    side = torch.cuda.Stream()
    ws = plan.new_workspace()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        o, l = splitmla.decode(q, kv, table, sl, SCALE, plan, workspace=ws)
    torch.cuda.current_stream().wait_stream(side)
    assert torch.equal(o, ref_out) and torch.equal(l, ref_lse)
    if torch.cuda.device_count() > 1:
        d1 = torch.device("cuda", 1)
        plan1 = splitmla.make_plan(16, 64, 4, table.shape[1], device=d1)
        with torch.cuda.device(0):  # current device 0, tensors on 1: the op's guard switches
            o1, l1 = splitmla.decode(q.to(d1), kv.to(d1), table.to(d1), sl.to(d1), SCALE, plan1,
                                     workspace=plan1.new_workspace())
        assert torch.equal(o1.cpu(), ref_out.cpu()) and torch.equal(l1.cpu(), ref_lse.cpu())


# ---------------------------------------------------------------- CUDA graphs

def test_graph_capture_1000_replays_bitwise_equal_to_eager():
    batch, heads, page, width = 8, 16, 64, 40
    g = torch.Generator().manual_seed(5)
    q, kv, table, sl = _problem(batch, heads, page, [page * width] * batch, seed=5)
    num_pages = kv.shape[0]
    plan = splitmla.make_plan(heads, page, batch, width, device=DEV)
    s_q, s_table, s_sl = q.clone(), table[:, :width].contiguous().clone(), sl.clone()
    s_out = torch.empty(batch, 1, heads, 512, dtype=q.dtype, device=DEV)
    s_lse = torch.empty(batch, 1, heads, device=DEV)
    ws = plan.new_workspace()

    def step():
        torch.ops.splitmla.decode_out(s_q, kv, s_table, s_sl, s_out, s_lse, ws, *plan.op_args(), SCALE)

    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        step()  # warm-up outside capture (torch's recipe)
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        step()

    e_ws = plan.new_workspace()
    mismatches = 0
    for i in range(1000):
        lens = torch.randint(0, page * width + 1, (batch,), generator=g, dtype=torch.int32)
        if i % 7 == 0:
            lens[i % batch] = 0
        perm = torch.randperm(num_pages, generator=g)[: batch * width].view(batch, width).to(torch.int32)
        s_sl.copy_(lens)
        s_table.copy_(perm)
        if i % 10 == 0:
            s_q.copy_(torch.randn(q.shape, generator=g).to(q.dtype))
        graph.replay()
        e_out, e_lse = splitmla.decode(s_q, kv, s_table, s_sl, SCALE, plan, workspace=e_ws)
        same = torch.equal(s_out.view(torch.int16), e_out.view(torch.int16)) and \
            torch.equal(s_lse.view(torch.int32), e_lse.view(torch.int32))
        mismatches += int(not same)
    torch.cuda.synchronize()
    print(f"\n[splitmla] graph replays: 1000, mismatches against eager: {mismatches}")
    assert mismatches == 0


def test_functional_op_captures_in_a_graph():
    q, kv, table, sl = _problem(4, 32, 16, [17, 0, 300, 64])
    plan = splitmla.make_plan(32, 16, 4, table.shape[1], device=DEV)
    want = torch.ops.splitmla.decode(q, kv, table, sl, *plan.op_args(), SCALE)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        got = torch.ops.splitmla.decode(q, kv, table, sl, *plan.op_args(), SCALE)
    graph.replay()
    torch.cuda.synchronize()
    assert torch.equal(got[0], want[0]) and torch.equal(got[1], want[1])


def test_compile_fullgraph_cuda():
    q, kv, table, sl = _problem(4, 16, 64, [100, 0, 5, 64])
    plan = splitmla.make_plan(16, 64, 4, table.shape[1], device=DEV)

    def step(q, kv, table, sl):
        out, lse = torch.ops.splitmla.decode(q, kv, table, sl, *plan.op_args(), SCALE)
        return out.float().sum(-1), lse

    compiled = torch.compile(step, fullgraph=True)
    got, want = compiled(q, kv, table, sl), step(q, kv, table, sl)
    assert torch.equal(got[1], want[1]) and torch.allclose(got[0], want[0], rtol=1e-5, atol=1e-4)


# ---------------------------------------------------------------- host overhead

@pytest.mark.parametrize("heads,batch", [(16, 128), (128, 32)])
def test_host_overhead_of_one_call(heads, batch):
    """Median host time of one decode_out call (Python -> dispatcher -> launches) over 1,000
    calls, printed. The GPU work is queued, not waited for; the stream is drained every 100
    calls so the launch queue never fills."""
    page = 64
    q, kv, table, sl = _problem(batch, heads, page, [256] * batch)
    plan = splitmla.make_plan(heads, page, batch, table.shape[1], device=DEV)
    out = torch.empty(batch, 1, heads, 512, dtype=q.dtype, device=DEV)
    lse = torch.empty(batch, 1, heads, device=DEV)
    ws = plan.new_workspace()
    args = (q, kv, table, sl, out, lse, ws, *plan.op_args(), SCALE)
    op = torch.ops.splitmla.decode_out.default
    for _ in range(20):
        op(*args)
    torch.cuda.synchronize()
    times = []
    for i in range(1000):
        t0 = time.perf_counter()
        op(*args)
        times.append(time.perf_counter() - t0)
        if i % 100 == 99:
            torch.cuda.synchronize()
    torch.cuda.synchronize()
    med = statistics.median(times) * 1e6
    p90 = sorted(times)[899] * 1e6
    print(f"\n[splitmla] host overhead of torch.ops.splitmla.decode_out, {heads} heads, batch {batch}: "
          f"median {med:.1f} us, p90 {p90:.1f} us (1000 calls)")
    assert med > 0


def test_flashinfer_wrapper_captured_run_follows_new_plans():
    """use_cuda_graph=True: capture run() once, then plan() new lengths and replay."""
    page, heads = 32, 16
    q, kv, table, sl = _problem(4, heads, page, [200] * 4, seed=21)  # every row: 7 valid pages
    ckv, kpe = flashinfer.split_kv_cache(kv)
    q_nope, q_pe = q[:, 0, :, :512], q[:, 0, :, 512:]
    qo = torch.arange(5, dtype=torch.int32)

    def csr(lens):
        counts = [-(-int(n) // page) for n in lens]
        indptr = torch.tensor([0] + torch.tensor(counts).cumsum(0).tolist(), dtype=torch.int32)
        return indptr, torch.cat([table[b, :c].cpu() for b, c in enumerate(counts)])

    w = flashinfer.BatchMLAPagedAttentionWrapper(torch.empty(128 << 20, dtype=torch.uint8, device=DEV),
                                                 use_cuda_graph=True)
    first = torch.tensor([200, 0, 64, 31], dtype=torch.int32, device=DEV)
    w.plan(qo, *csr(first.tolist()), first, heads, 512, 64, page, True, SCALE, torch.bfloat16,
           torch.bfloat16)
    out = torch.empty(4, heads, 512, dtype=q.dtype, device=DEV)
    w.run(q_nope, q_pe, ckv, kpe, out=out)  # warm-up
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        w.run(q_nope, q_pe, ckv, kpe, out=out)
    plan = splitmla.make_plan(heads, page, 4, table.shape[1], device=DEV)
    for lens in ([1, 2, 3, 4], [200, 199, 0, 5], [0, 0, 0, 0]):
        sl2 = torch.tensor(lens, dtype=torch.int32, device=DEV)
        w.plan(qo, *csr(lens), sl2, heads, 512, 64, page, True, SCALE, torch.bfloat16, torch.bfloat16)
        graph.replay()
        want, _ = splitmla.decode(q, kv, table, sl2, SCALE, plan, workspace=plan.new_workspace())
        assert torch.equal(out, want[:, 0]), f"lengths {lens}"

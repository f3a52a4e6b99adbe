"""Shared helpers: random problems and an independent float64 reference written in torch."""
from __future__ import annotations

import math
import os
import sys

import pytest
import torch

import splitmla


def make_problem(batch, heads, page_size, seq_lens, dtype=torch.bfloat16, device="cpu",
                 num_pages=None, extra_pages=2, seed=0, poison=True):
    """Random q and paged cache; each request gets its own shuffled pages. Rows past each length
    are NaN and table entries past each length are out of range (`poison`): a correct decode
    never reads them."""
    g = torch.Generator().manual_seed(seed)
    lens = [int(n) for n in seq_lens]
    pages_per = [max(1, -(-n // page_size)) for n in lens]
    width = max(pages_per) + extra_pages
    total = sum(pages_per)
    num_pages = num_pages or total + 1
    q = (torch.randn(batch, 1, heads, 576, generator=g) * 0.5).to(dtype)
    kv = (torch.randn(num_pages, page_size, 576, generator=g) * 0.5).to(dtype)
    perm = torch.randperm(num_pages, generator=g)[:total].to(torch.int32)
    table = torch.full((batch, width), num_pages + 7 if poison else 0, dtype=torch.int32)
    at = 0
    for b, n in enumerate(lens):
        k = -(-n // page_size)
        table[b, :k] = perm[at:at + k]
        at += pages_per[b]
        if poison and n % page_size and k:
            kv[table[b, k - 1], n % page_size:] = float("nan")  # rows past the length
    sl = torch.tensor(lens, dtype=torch.int32)
    return (q.to(device), kv.to(device), table.to(device), sl.to(device))


def f32(x: float) -> float:
    """x rounded to float32: the softmax scale the kernels (and the CPU op) use."""
    return float(torch.tensor(x, dtype=torch.float32))


def reference(q, kv, table, seq_lens, scale):
    """CONTRACT.md section 1 in float64, independently of the library: out [b, 1, h, 512] and
    lse [b, 1, h] (natural log; 0 / -inf for empty requests)."""
    q, kv, table, seq_lens = q.cpu(), kv.cpu(), table.cpu(), seq_lens.cpu()
    kv = kv.reshape(kv.shape[0], kv.shape[1], 576)
    b_, t_, h_, _ = q.shape
    page = kv.shape[1]
    out = torch.zeros(b_, t_, h_, 512, dtype=torch.float64)
    lse = torch.full((b_, t_, h_), -math.inf, dtype=torch.float64)
    for b in range(b_):
        n = int(seq_lens[b])
        if n == 0:
            continue
        pos = torch.arange(n)
        rows = kv[table[b, pos // page].long(), pos % page].double()       # [n, 576]
        s = f32(scale) * (q[b, 0].double() @ rows.T)                        # [h, n]
        l = torch.logsumexp(s, dim=-1)
        out[b, 0] = torch.exp(s - l[:, None]) @ rows[:, :512]
        lse[b, 0] = l
    return out, lse


def assert_close_to_reference(out, lse, ref_out, ref_lse, dtype):
    """Empty/-inf positions must match exactly; then out within the dtype's contract tolerance
    (bf16 1e-2, fp16 2e-3, atol = rtol) and lse within 1e-3."""
    out, lse = out.cpu().double(), lse.cpu().double()
    assert torch.equal(torch.isinf(lse), torch.isinf(ref_lse)), "-inf positions of lse differ"
    assert not torch.isnan(out).any() and not torch.isnan(lse).any(), "NaN in a healthy output"
    tol = 1e-2 if dtype == torch.bfloat16 else 2e-3
    err = (out - ref_out).abs() - (tol + tol * ref_out.abs())
    worst = int(err.argmax())
    assert float(err.max()) <= 0, (
        f"out: worst element {worst}: got {out.flatten()[worst]}, ref {ref_out.flatten()[worst]}")
    fin = torch.isfinite(ref_lse)
    if bool(fin.any()):
        assert float((lse[fin] - ref_lse[fin]).abs().max()) <= 1e-3


has_cuda = torch.cuda.is_available()
requires_cuda = pytest.mark.skipif(not has_cuda, reason="skipped: no CUDA device (torch.cuda.is_available() is False)")


def fp8_e4m3_cache(kv, scale):
    """vLLM's fp8 cache: uint8 rows of 576 e4m3 bytes, value = e4m3 * scale (one per call)."""
    return (kv.float() / scale).to(torch.float8_e4m3fn).view(torch.uint8)


def fp8_ds_mla_cache(kv, scales):
    """The 656-byte fp8_ds_mla row: 512 e4m3 bytes (block i of 128 values divided by scales[i]),
    four float32 scales, 64 bf16 rope values."""
    lat = kv[..., :512].float().unflatten(-1, (4, 128)) / scales[:, None]
    e4 = lat.to(torch.float8_e4m3fn).flatten(-2).view(torch.uint8)
    sc = scales.float().expand(*kv.shape[:-1], 4).contiguous().view(torch.uint8)
    rope = kv[..., 512:].to(torch.bfloat16).contiguous().view(torch.uint8)
    return torch.cat([e4, sc, rope], dim=-1).contiguous()


def dequantized(cache, kind, scale):
    if kind == "fp8_e4m3":
        return cache.view(torch.float8_e4m3fn).double() * scale
    lat = cache[..., :512].view(torch.float8_e4m3fn).double().unflatten(-1, (4, 128))
    sc = cache[..., 512:528].contiguous().view(torch.float32).double()
    rope = cache[..., 528:].contiguous().view(torch.bfloat16).double()
    return torch.cat([(lat * sc[..., None]).flatten(-2), rope], dim=-1)

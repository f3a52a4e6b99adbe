"""Fake (meta) implementations: shapes and dtypes only, for FakeTensor tracing and
torch.compile(fullgraph=True). They check what shapes alone can tell; the real kernels check
the rest (the library's can_implement) when the op runs."""
from __future__ import annotations

import torch


def _check_shapes(op, q, kv_cache, block_table, seq_lens):
    torch._check(q.dim() == 4, lambda: f"splitmla.{op}: q.dim() = {q.dim()}, must be 4")
    torch._check(q.shape[3] == 576, lambda: f"splitmla.{op}: q.size(3) = {q.shape[3]}, must be 576")
    torch._check(kv_cache.dim() in (3, 4), lambda: f"splitmla.{op}: kv_cache.dim() = {kv_cache.dim()}, must be 3 or 4")
    torch._check(block_table.dim() == 2, lambda: f"splitmla.{op}: block_table.dim() = {block_table.dim()}, must be 2")
    torch._check(seq_lens.dim() == 1, lambda: f"splitmla.{op}: seq_lens.dim() = {seq_lens.dim()}, must be 1")


@torch.library.register_fake("splitmla::decode_out")
def _decode_out_fake(q, kv_cache, block_table, seq_lens, out, lse, workspace, max_batch,
                     max_pages_per_seq, policy_kind, policy_value, num_sms, part1,
                     softmax_scale, kv_scale=None, causal=True):
    _check_shapes("decode_out", q, kv_cache, block_table, seq_lens)
    return None


@torch.library.register_fake("splitmla::decode")
def _decode_fake(q, kv_cache, block_table, seq_lens, max_batch, max_pages_per_seq, policy_kind,
                 policy_value, num_sms, part1, softmax_scale, kv_scale=None, causal=True):
    _check_shapes("decode", q, kv_cache, block_table, seq_lens)
    b, t, h = q.shape[0], q.shape[1], q.shape[2]
    out = q.new_empty((b, t, h, 512))
    lse = q.new_empty((b, t, h), dtype=torch.float32)
    return out, lse

"""A drop-in for FlashMLA's decode API: ``get_mla_metadata`` + ``flash_mla_with_kvcache``.

Usage, as with FlashMLA::

    tile_scheduler_metadata, num_splits = get_mla_metadata(cache_seqlens, s_q * h_q // h_kv, h_kv)
    out, lse = flash_mla_with_kvcache(q, k_cache, block_table, cache_seqlens, 512,
                                      tile_scheduler_metadata, num_splits,
                                      softmax_scale=..., causal=True)

Shapes as FlashMLA's: ``q [batch, s_q, h_q, 576]``, ``k_cache [num_blocks, page_block_size, 1,
576]``, ``block_table [batch, max_blocks] int32``, ``cache_seqlens [batch] int32``; returns
``out [batch, s_q, h_q, 512]`` and ``softmax_lse [batch, h_q, s_q]`` float32 (natural log).

Several query tokens per request (``s_q`` 1..16, multi-token prediction) follow FlashMLA's
``causal`` flag: token t sees ``seq_len - s_q + t + 1`` positions when causal, all of them when
not. ``is_fp8_kvcache=True`` takes FlashMLA's fp8 cache, ``[num_blocks, page_block_size, 1,
656]`` uint8 rows of 512 e4m3 values, four float32 scales and 64 bf16 rope values (the library's
``fp8_ds_mla``), in the dense decode. Differences, each refused with an exception rather than
computed differently: ``h_kv`` must be 1, ``head_dim_v`` must be 512, sparse ``indices`` are
not implemented. Every page size
of the library (each power of two 1..128) works, not only FlashMLA's 64.

The two metadata values are opaque here: ``tile_scheduler_metadata`` is the caller-owned uint8
workspace (on ``cache_seqlens``' device; keep it across steps), ``num_splits`` a CPU int64 tensor
holding the static plan fields (heads, max batch, SM count). Unlike FlashMLA's, they do not
depend on the lengths: make them once for a batch bound and reuse them while lengths change
(also inside a captured CUDA graph). Planning launches nothing and reads no device memory.
"""
from __future__ import annotations

from typing import Optional, Tuple

import torch

from ._plan import KV_FORMATS, POLICY_KINDS, PART1_VARIANTS, resolve_num_sms

# Pages and page size do not change the auto policy's workspace (only batch, heads and SMs do):
# these stand-ins size it at metadata time, before the cache is known.
_SIZING_PAGE_SIZE = 64
_SIZING_MAX_PAGES = 1


def get_mla_metadata(cache_seqlens: torch.Tensor, num_q_tokens_per_head_k: int, num_heads_k: int,
                     num_heads_q: Optional[int] = None, is_fp8_kvcache: bool = False,
                     topk: Optional[int] = None, num_sms: Optional[int] = None
                     ) -> Tuple[torch.Tensor, torch.Tensor]:
    """Plans for ``cache_seqlens.numel()`` requests of ``num_q_tokens_per_head_k`` query heads
    (``s_q * h_q // h_kv``); returns ``(workspace, plan_fields)`` in FlashMLA's two slots."""
    if num_heads_k != 1:
        raise ValueError(f"num_heads_k = {num_heads_k}, must be 1 (MLA: one latent KV head)")
    if topk is not None:
        raise NotImplementedError(f"topk = {topk}: sparse attention is not implemented")
    rows = int(num_q_tokens_per_head_k)  # s_q * h_q query rows
    if num_heads_q is not None:
        h = int(num_heads_q)
        if h < 1 or rows % h != 0 or not 1 <= rows // h <= 16:
            raise ValueError(f"num_q_tokens_per_head_k = {rows}, num_heads_q = {num_heads_q}: "
                             "must be s_q * num_heads_q with s_q in 1..16")
        shapes = [(h, rows // h)]
    else:
        # s_q unknown until the call: size the workspace for every split of the rows into
        # s_q tokens of h_q heads (1..16 tokens, at most 128 heads).
        shapes = [(rows // t, t) for t in range(1, 17) if rows % t == 0 and rows // t <= 128]
        if not shapes:
            raise ValueError(f"num_q_tokens_per_head_k = {rows}: must be s_q * h_q with s_q in "
                             "1..16 and h_q in 1..128")
    if cache_seqlens.dim() != 1:
        raise ValueError(f"cache_seqlens.dim() = {cache_seqlens.dim()}, must be 1")
    device = cache_seqlens.device
    max_batch = int(cache_seqlens.shape[0])
    sms = resolve_num_sms(device, num_sms)
    dev_index = device.index if device.type == "cuda" else 0
    # bf16 and fp16 plans have the same size; the dtype is fixed by q at run time.
    nbytes = max(int(torch.ops.splitmla.workspace_size(
        h, _SIZING_PAGE_SIZE, max_batch, _SIZING_MAX_PAGES, torch.bfloat16,
        POLICY_KINDS["auto"], 0, sms, PART1_VARIANTS["auto"], dev_index, t,
        KV_FORMATS["fp8_ds_mla" if is_fp8_kvcache else "same"])) for h, t in shapes)
    workspace = torch.empty(nbytes, dtype=torch.uint8, device=device)
    fields = torch.tensor([rows, max_batch, sms], dtype=torch.int64)
    return workspace, fields


def flash_mla_with_kvcache(q: torch.Tensor, k_cache: torch.Tensor, block_table: torch.Tensor,
                           cache_seqlens: torch.Tensor, head_dim_v: int,
                           tile_scheduler_metadata: torch.Tensor, num_splits: torch.Tensor,
                           softmax_scale: Optional[float] = None, causal: bool = False,
                           is_fp8_kvcache: bool = False, indices: Optional[torch.Tensor] = None,
                           ) -> Tuple[torch.Tensor, torch.Tensor]:
    """FlashMLA's decode call; returns ``(out [b, s_q, h_q, 512], softmax_lse [b, h_q, s_q])``.

    ``softmax_scale`` defaults to ``q.shape[-1] ** -0.5`` as in FlashMLA; models such as
    DeepSeek-V3 pass their own (1/sqrt(192) times mscale)."""
    if head_dim_v != 512:
        raise ValueError(f"head_dim_v = {head_dim_v}, must be 512")
    if is_fp8_kvcache and (k_cache.dtype not in (torch.uint8, torch.float8_e4m3fn)
                           or k_cache.shape[-1] != 656):
        raise ValueError(f"is_fp8_kvcache = True with k_cache dtype {k_cache.dtype}, last dim "
                         f"{k_cache.shape[-1]}: must be uint8 rows of 656 bytes (fp8_ds_mla)")
    if indices is not None:
        raise NotImplementedError("indices: sparse attention is not implemented")
    if k_cache.dim() != 4:
        raise ValueError(f"k_cache.dim() = {k_cache.dim()}, must be 4 ([num_blocks, page_block_size, 1, 576])")
    rows, max_batch, sms = (int(v) for v in num_splits.tolist())
    if q.dim() == 4 and q.shape[1] * q.shape[2] != rows:
        raise ValueError(f"q.shape = {tuple(q.shape)}: s_q * h_q = {q.shape[1] * q.shape[2]}, the "
                         f"metadata was made for {rows} (num_q_tokens_per_head_k)")
    if softmax_scale is None:
        softmax_scale = q.shape[-1] ** -0.5
    b, s_q, h_q = q.shape[0], q.shape[1], q.shape[2]
    out = q.new_empty((b, s_q, h_q, head_dim_v))
    lse = torch.empty((b, h_q, s_q), dtype=torch.float32, device=q.device)
    torch.ops.splitmla.decode_out(
        q, k_cache, block_table, cache_seqlens, out, lse.transpose(1, 2),
        tile_scheduler_metadata, max_batch, int(block_table.shape[1]), POLICY_KINDS["auto"], 0,
        sms, PART1_VARIANTS["auto"], float(softmax_scale), None, bool(causal))
    return out, lse

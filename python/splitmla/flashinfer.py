"""A FlashInfer-style plan/run wrapper: ``BatchMLAPagedAttentionWrapper``.

Same constructor, ``plan`` and ``run`` signatures as FlashInfer's MLA wrapper::

    wrapper = BatchMLAPagedAttentionWrapper(workspace_buffer)          # caller-owned uint8
    wrapper.plan(qo_indptr, kv_indptr, kv_indices, kv_len_arr, num_heads, 512, 64, page_size,
                 causal, sm_scale, q_data_type, kv_data_type)
    out = wrapper.run(q_nope, q_pe, ckv_cache, kpe_cache)               # per layer

Shapes as FlashInfer's: ``q_nope [batch, heads, 512]``, ``q_pe [batch, heads, 64]``,
``ckv_cache [num_pages, page_size, 512]``, ``kpe_cache [num_pages, page_size, 64]``; ``out
[batch, heads, 512]``, ``lse [batch, heads]`` (base 2, as FlashInfer returns it, unless
``return_lse_base_on_e=True``).

SplitMLA reads each cache row as one packed 576-element row, so ``ckv_cache`` and ``kpe_cache``
must be the two views of one ``[num_pages, page_size, 576]`` tensor (:func:`split_kv_cache` makes
them); separate buffers are refused (copying a cache per call would defeat the kernel). ``q_nope``
and ``q_pe`` are used in place when they are such views too, and concatenated otherwise (a copy of
q only). One query token per request (``qo_indptr = arange(batch + 1)``); every page size of the
library (powers of two 1..128); bf16 or fp16 for both q and the cache.

``plan`` is a host call, as FlashInfer's: it reads the index arrays on the host and builds the
block table and lengths on the device. ``run`` launches the kernels and never synchronizes; with
``use_cuda_graph=True`` the block table and length buffers keep their addresses across ``plan``
calls (within the first plan's batch and page bounds), so a captured ``run`` replays correctly
after a new ``plan``.
"""
from __future__ import annotations

import math
from typing import Optional, Tuple, Union

import torch

from ._plan import make_plan

_LN2 = math.log(2.0)


def split_kv_cache(cache: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    """``(ckv [.., 512], kpe [.., 64])`` views of a packed ``[num_pages, page_size, 576]`` cache."""
    if cache.shape[-1] != 576:
        raise ValueError(f"cache.size(-1) = {cache.shape[-1]}, must be 576")
    return cache[..., :512], cache[..., 512:]


def _packed(nope: torch.Tensor, pe: torch.Tensor) -> Optional[torch.Tensor]:
    """The 576-wide tensor that ``nope`` and ``pe`` are views of, or None."""
    if (nope.dtype != pe.dtype or nope.device != pe.device or nope.shape[:-1] != pe.shape[:-1]
            or nope.shape[-1] != 512 or pe.shape[-1] != 64 or nope.stride() != pe.stride()
            or nope.stride(-1) != 1):
        return None
    if pe.data_ptr() != nope.data_ptr() + 512 * nope.element_size():
        return None
    size = tuple(nope.shape[:-1]) + (576,)
    return nope.as_strided(size, nope.stride(), nope.storage_offset())


class BatchMLAPagedAttentionWrapper:
    """FlashInfer's MLA plan/run interface over ``torch.ops.splitmla.decode_out``."""

    def __init__(self, float_workspace_buffer: torch.Tensor, use_cuda_graph: bool = False,
                 qo_indptr: Optional[torch.Tensor] = None, kv_indptr: Optional[torch.Tensor] = None,
                 kv_indices: Optional[torch.Tensor] = None, kv_len_arr: Optional[torch.Tensor] = None,
                 backend: str = "auto", num_sms: Optional[int] = None) -> None:
        if float_workspace_buffer.dtype != torch.uint8 or float_workspace_buffer.dim() != 1:
            raise ValueError(f"float_workspace_buffer: dtype = {float_workspace_buffer.dtype}, "
                             f"dim = {float_workspace_buffer.dim()}; must be a 1-D torch.uint8 tensor")
        self._workspace = float_workspace_buffer
        self._device = float_workspace_buffer.device
        self._use_cuda_graph = use_cuda_graph
        self._num_sms = num_sms
        self._block_table: Optional[torch.Tensor] = None
        self._seq_lens: Optional[torch.Tensor] = None
        self._plan = None

    def plan(self, qo_indptr: torch.Tensor, kv_indptr: torch.Tensor, kv_indices: torch.Tensor,
             kv_len_arr: torch.Tensor, num_heads: int, head_dim_ckv: int, head_dim_kpe: int,
             page_size: int, causal: bool, sm_scale: float, q_data_type: torch.dtype,
             kv_data_type: torch.dtype, use_profiler: bool = False) -> None:
        if head_dim_ckv != 512 or head_dim_kpe != 64:
            raise ValueError(f"head_dim_ckv = {head_dim_ckv}, head_dim_kpe = {head_dim_kpe}; "
                             "must be 512 and 64")
        if q_data_type != kv_data_type:
            raise NotImplementedError(f"q_data_type = {q_data_type}, kv_data_type = {kv_data_type}: "
                                      "the wrapper needs the same bf16/fp16 type for both (fp8 caches: splitmla.decode or the FlashMLA adapter)")
        qo = qo_indptr.to("cpu", torch.int64)
        kv_ptr = kv_indptr.to("cpu", torch.int64)
        lens = kv_len_arr.to("cpu", torch.int32)
        batch = int(qo.numel()) - 1
        if batch < 1 or kv_ptr.numel() != batch + 1 or lens.numel() != batch:
            raise ValueError(f"qo_indptr.numel() = {qo.numel()}, kv_indptr.numel() = {kv_ptr.numel()}, "
                             f"kv_len_arr.numel() = {lens.numel()}: must be batch + 1, batch + 1, batch")
        q_lens = qo[1:] - qo[:-1]
        q_len = int(q_lens[0])
        if not bool((q_lens == q_len).all()) or not 1 <= q_len <= 16:
            raise NotImplementedError(f"qo_indptr = {qo.tolist()}: every request must have the same "
                                      "number of query tokens, 1..16 (the library's q_len is per call)")
        pages = kv_ptr[1:] - kv_ptr[:-1]
        max_pages = max(1, int(pages.max()))
        # Block table rows: each request's pages from kv_indices, padded with page 0 (never read:
        # entries past ceil(len / page_size) are outside the visible range).
        idx = kv_indices.to("cpu", torch.int32)
        table = torch.zeros((batch, max_pages), dtype=torch.int32)
        for b in range(batch):
            lo, hi = int(kv_ptr[b]), int(kv_ptr[b + 1])
            table[b, :hi - lo] = idx[lo:hi]
        if self._use_cuda_graph and self._block_table is not None:
            p = self._plan
            if (num_heads, page_size, q_data_type, q_len) != (p.num_heads, p.page_size, p.dtype, p.q_len):
                raise ValueError(f"use_cuda_graph: num_heads, page_size, q_data_type, q_len = {num_heads}, "
                                 f"{page_size}, {q_data_type}, {q_len}; the first plan had {p.num_heads}, "
                                 f"{p.page_size}, {p.dtype}, {p.q_len} (a captured run cannot change them)")
            cap_b, cap_p = self._block_table.shape
            if batch > cap_b or max_pages > cap_p:
                raise ValueError(f"use_cuda_graph: batch = {batch}, max pages = {max_pages} exceed "
                                 f"the first plan's bounds ({cap_b}, {cap_p})")
            # Rows past this batch become empty requests (a captured run keeps its batch).
            self._block_table.zero_()
            self._block_table[:batch, :max_pages].copy_(table)
            self._seq_lens.zero_()
            self._seq_lens[:batch].copy_(lens)
            self._batch = batch
        else:
            self._block_table = table.to(self._device)
            self._seq_lens = lens.to(self._device)
            self._batch = batch
            self._plan = make_plan(num_heads, page_size, max_batch=batch,
                                   max_pages_per_seq=max_pages, dtype=q_data_type,
                                   device=self._device, num_sms=self._num_sms, q_len=q_len)
            if self._plan.workspace_bytes > self._workspace.numel():
                raise ValueError(f"float_workspace_buffer.numel() = {self._workspace.numel()} bytes, "
                                 f"the plan needs {self._plan.workspace_bytes}")
        self._num_heads = int(num_heads)
        self._page_size = int(page_size)
        self._causal = bool(causal)
        self._sm_scale = float(sm_scale)
        self._dtype = q_data_type

    def run(self, q_nope: torch.Tensor, q_pe: torch.Tensor, ckv_cache: torch.Tensor,
            kpe_cache: torch.Tensor, out: Optional[torch.Tensor] = None,
            lse: Optional[torch.Tensor] = None, return_lse: bool = False,
            profiler_buffer: Optional[torch.Tensor] = None, kv_len: Optional[torch.Tensor] = None,
            page_table: Optional[torch.Tensor] = None, return_lse_base_on_e: bool = False,
            ) -> Union[torch.Tensor, Tuple[torch.Tensor, torch.Tensor]]:
        if self._plan is None:
            raise RuntimeError("run() before plan()")
        cache = _packed(ckv_cache, kpe_cache)
        if cache is None:
            raise ValueError("ckv_cache and kpe_cache must be the [..., :512] and [..., 512:] views of "
                             "one [num_pages, page_size, 576] tensor (splitmla.flashinfer.split_kv_cache); "
                             "SplitMLA reads each row once for both products")
        q = _packed(q_nope, q_pe)
        if q is None:
            q = torch.cat([q_nope, q_pe], dim=-1)
        batch = self._batch
        t = self._plan.q_len
        if q.shape[0] != batch * t:
            raise ValueError(f"q_nope.size(0) = {q.shape[0]}, the plan has batch * q_len = "
                             f"{batch} * {t}")
        if out is None:
            out = q.new_empty((batch * t, q.shape[1], 512))
        want_lse = return_lse or lse is not None
        lse_e = None
        if want_lse:
            if lse is None:
                lse = torch.empty((batch * t, q.shape[1]), dtype=torch.float32, device=q.device)
            lse_e = lse if return_lse_base_on_e else torch.empty_like(lse)
        p = self._plan
        # FlashInfer's ragged rows (request-major, q_len tokens each) as [batch, q_len, ...] views.
        torch.ops.splitmla.decode_out(
            q.unflatten(0, (batch, t)), cache, self._block_table[:batch], self._seq_lens[:batch],
            out.unflatten(0, (batch, t)), None if lse_e is None else lse_e.unflatten(0, (batch, t)),
            self._workspace, *p.op_args(), self._sm_scale, None, self._causal)
        if not want_lse:
            return out
        if not return_lse_base_on_e:
            torch.div(lse_e, _LN2, out=lse)
        return out, lse

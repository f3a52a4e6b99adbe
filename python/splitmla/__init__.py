"""SplitMLA: split-KV MLA decode for Hopper GPUs, as PyTorch dispatcher ops.

Ops (``torch.ops.splitmla``):

- ``decode_out(q, kv_cache, block_table, seq_lens, out, lse, workspace, max_batch,
  max_pages_per_seq, policy_kind, policy_value, num_sms, part1, softmax_scale, kv_scale=None,
  causal=True) -> ()``: writes ``out`` (and ``lse`` unless None) using the caller's workspace.
- ``decode(q, kv_cache, block_table, seq_lens, <same plan fields>, softmax_scale, kv_scale=None,
  causal=True) -> (out, lse)``: functional; allocates its outputs and workspace.
- ``workspace_size(...) -> int``: the planning helper behind :func:`make_plan`.

Shapes: ``q [batch, q_len, heads, 576]`` (bf16/fp16), ``kv_cache [num_pages, page_size, 576]`` or
``[num_pages, page_size, 1, 576]``, ``block_table [batch, max_pages] int32``, ``seq_lens [batch]
int32``, ``out [batch, q_len, heads, 512]``, ``lse [batch, q_len, heads] float32`` (natural log,
``-inf`` for empty requests). CPU tensors run the library's float64 reference; CUDA tensors run
the kernels on the current stream with no host synchronization.

Adapters: :mod:`splitmla.flashmla` (``get_mla_metadata`` + ``flash_mla_with_kvcache``) and
:mod:`splitmla.flashinfer` (``BatchMLAPagedAttentionWrapper``).
"""
from __future__ import annotations

import os
from typing import Optional, Tuple

import torch

_HERE = os.path.dirname(os.path.abspath(__file__))
torch.ops.load_library(os.path.join(_HERE, "libsplitmla_torch.so"))

from . import _fake  # noqa: E402,F401  (registers the fake implementations)
from ._plan import (DEFAULT_CPU_NUM_SMS, PART1_VARIANTS, POLICY_KINDS,  # noqa: E402
                    SUPPORTED_DTYPES, SUPPORTED_PAGE_SIZES, Plan, make_plan, workspace_size)

__version__ = "0.1.0"

__all__ = ["Plan", "make_plan", "workspace_size", "decode", "SUPPORTED_PAGE_SIZES",
           "SUPPORTED_DTYPES", "DEFAULT_CPU_NUM_SMS", "PART1_VARIANTS", "POLICY_KINDS"]


def decode(q: torch.Tensor, kv_cache: torch.Tensor, block_table: torch.Tensor,
           seq_lens: torch.Tensor, softmax_scale: float, plan: Plan,
           workspace: Optional[torch.Tensor] = None, out: Optional[torch.Tensor] = None,
           lse: Optional[torch.Tensor] = None, kv_scale: Optional[torch.Tensor] = None,
           causal: bool = True) -> Tuple[torch.Tensor, torch.Tensor]:
    """One decode step; returns ``(out, lse)``.

    With ``workspace`` (``plan.new_workspace()``, kept by the caller) it runs ``decode_out``
    into ``out``/``lse`` (allocated when None); without, the functional ``decode`` op, which
    takes a workspace from torch's allocator for the call.
    """
    if workspace is None and out is None and lse is None:
        return torch.ops.splitmla.decode(q, kv_cache, block_table, seq_lens, *plan.op_args(),
                                         float(softmax_scale), kv_scale, causal)
    if workspace is None:
        workspace = plan.new_workspace()
    b, t, h = q.shape[0], q.shape[1], q.shape[2]
    if out is None:
        out = q.new_empty((b, t, h, 512))
    if lse is None:
        lse = torch.empty((b, t, h), dtype=torch.float32, device=q.device)
    torch.ops.splitmla.decode_out(q, kv_cache, block_table, seq_lens, out, lse, workspace,
                                  *plan.op_args(), float(softmax_scale), kv_scale, causal)
    return out, lse

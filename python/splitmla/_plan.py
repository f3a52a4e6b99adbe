"""Planning: the static bounds of a decode, resolved once per model (or per stream).

A :class:`Plan` holds the fields ``torch.ops.splitmla.decode_out`` takes as ints, and the
workspace size the library computes for them (``splitmla::make_plan``). Planning needs no GPU:
give ``num_sms`` (and a device) and the size is the one the kernels will need there.
"""
from __future__ import annotations

import dataclasses
from typing import Optional, Tuple, Union

import torch

# splitmla::SplitPolicyKind and splitmla::Part1Variant (include/splitmla/types.hpp).
POLICY_KINDS = {"auto": 0, "forced": 1, "chunk": 2}
PART1_VARIANTS = {"auto": 0, "mma_sync": 1, "wgmma": 2}
# splitmla::KvFormat: "same" is a cache of q's dtype; the fp8 layouts are uint8 rows.
KV_FORMATS = {"same": 0, "fp8_e4m3": 1, "fp8_ds_mla": 2}
# SM count used to plan for CPU tensors when none is given: the H200's, so a workspace sized on
# the CPU fits the GPU the project measures on.
DEFAULT_CPU_NUM_SMS = 132
SUPPORTED_PAGE_SIZES = tuple(1 << i for i in range(8))  # every power of two 1..128
SUPPORTED_DTYPES = (torch.bfloat16, torch.float16)

Policy = Union[str, Tuple[str, int]]


@dataclasses.dataclass(frozen=True)
class Plan:
    """Static configuration of a decode and the workspace bytes it needs."""

    num_heads: int
    page_size: int
    max_batch: int
    max_pages_per_seq: int
    dtype: torch.dtype
    policy_kind: int
    policy_value: int
    num_sms: int
    part1: int
    device: torch.device
    workspace_bytes: int
    q_len: int = 1  # query tokens per request the workspace was sized for (1..16)
    kv_format: str = "same"  # the cache layout planned for (KV_FORMATS)

    def op_args(self) -> Tuple[int, int, int, int, int, int]:
        """The plan fields in the order ``decode_out`` / ``decode`` take them."""
        return (self.max_batch, self.max_pages_per_seq, self.policy_kind, self.policy_value,
                self.num_sms, self.part1)

    def new_workspace(self) -> torch.Tensor:
        """A caller-owned workspace for this plan (uint8, on the plan's device).

        Make one per model or per stream and keep it; never share one between two streams that
        run at the same time."""
        return torch.empty(self.workspace_bytes, dtype=torch.uint8, device=self.device)


def _policy(policy: Policy) -> Tuple[int, int]:
    if isinstance(policy, str):
        if policy != "auto":
            raise ValueError(f"policy = {policy!r}, must be 'auto', ('forced', n) or ('chunk', tokens)")
        return POLICY_KINDS["auto"], 0
    try:
        kind, value = policy
    except (TypeError, ValueError):
        raise ValueError(f"policy = {policy!r}, must be 'auto', ('forced', n) or ('chunk', tokens)") from None
    if kind not in ("forced", "chunk"):
        raise ValueError(f"policy = {policy!r}, must be 'auto', ('forced', n) or ('chunk', tokens)")
    return POLICY_KINDS[kind], int(value)


def resolve_num_sms(device: torch.device, num_sms: Optional[int]) -> int:
    if num_sms is not None:
        return int(num_sms)
    if device.type == "cuda":
        return torch.cuda.get_device_properties(device).multi_processor_count
    return DEFAULT_CPU_NUM_SMS


def make_plan(num_heads: int, page_size: int, max_batch: int, max_pages_per_seq: int,
              dtype: torch.dtype = torch.bfloat16, policy: Policy = "auto",
              device: Union[str, torch.device, None] = None, num_sms: Optional[int] = None,
              part1: str = "auto", q_len: int = 1, kv_format: str = "same") -> Plan:
    """Plans a decode within static bounds and returns the plan with its workspace size.

    ``device``: where the decode will run (default: the current CUDA device if there is one,
    else the CPU, whose op runs the float64 reference). ``num_sms``: the SM count to plan for
    (default: the device's; 132 for the CPU). ``policy``: ``'auto'``, ``('forced', n)`` or
    ``('chunk', tokens)``. ``part1``: ``'auto'``, ``'mma_sync'`` or ``'wgmma'``. ``q_len``: query tokens per request, 1..16 (the workspace
    grows with it; the ops read q_len from ``q`` and ``causal`` per call). ``kv_format``:
    ``'same'`` (a cache of ``dtype``), ``'fp8_e4m3'`` (uint8 rows of 576 bytes and a float32
    ``kv_scale``) or ``'fp8_ds_mla'`` (uint8 rows of 656 bytes); the ops read it from the cache.
    Raises ValueError / NotImplementedError naming the bad field (the library's status message).
    """
    if device is None:
        device = torch.device("cuda", torch.cuda.current_device()) if torch.cuda.is_available() else torch.device("cpu")
    device = torch.device(device)
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", torch.cuda.current_device())
    if dtype not in SUPPORTED_DTYPES:
        raise ValueError(f"dtype = {dtype}, must be torch.bfloat16 or torch.float16")
    if part1 not in PART1_VARIANTS:
        raise ValueError(f"part1 = {part1!r}, must be one of {sorted(PART1_VARIANTS)}")
    if kv_format not in KV_FORMATS:
        raise ValueError(f"kv_format = {kv_format!r}, must be one of {sorted(KV_FORMATS)}")
    kind, value = _policy(policy)
    sms = resolve_num_sms(device, num_sms)
    dev_index = device.index if device.type == "cuda" else 0
    nbytes = torch.ops.splitmla.workspace_size(
        int(num_heads), int(page_size), int(max_batch), int(max_pages_per_seq), dtype, kind,
        value, sms, PART1_VARIANTS[part1], dev_index, int(q_len), KV_FORMATS[kv_format])
    return Plan(int(num_heads), int(page_size), int(max_batch), int(max_pages_per_seq), dtype,
                kind, value, sms, PART1_VARIANTS[part1], device, int(nbytes), int(q_len),
                kv_format)


def workspace_size(*args, **kwargs) -> int:
    """Bytes of workspace :func:`make_plan` (same arguments) computes."""
    return make_plan(*args, **kwargs).workspace_bytes

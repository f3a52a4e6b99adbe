#!/usr/bin/env python3
"""Dump one MLA decode step as a SplitMLA fixture (format version 1, CONTRACT.md section 4).

Import it from a serving stack and call dump_mla_step() with the step's tensors (PyTorch tensors
or numpy arrays), then check the file with the tool:

    splitmla_fixture inspect step.h5
    splitmla_fixture replay --backend cpu step.h5     # stored outputs vs float64

Needs h5py and numpy; PyTorch is optional (only to pass torch tensors).

Command line (a self-contained example, used by the tests):

    python3 dump_step.py --demo OUT.h5 [--dtype bfloat16|float16] [--seed N]

writes a small random step whose stored outputs are computed here in float64 (numpy), marked
source = "recorded" as a serving stack's dump would be.
"""
import argparse
import sys

import h5py
import numpy as np

try:  # optional: accept torch tensors when PyTorch is there
    import torch
except ImportError:  # pragma: no cover - depends on the environment
    torch = None

HEAD_DIM_QK = 576
HEAD_DIM_V = 512
DTYPES = ("bfloat16", "float16")


def _is_torch(x):
    return torch is not None and isinstance(x, torch.Tensor)


def raw_bits(x, dtype=None):
    """bf16/fp16 data -> (numpy uint16 array with the same bits, dtype name).

    A torch tensor brings its dtype; a numpy float16 array is float16; a numpy uint16 array holds
    raw bits already and needs `dtype` ("bfloat16" or "float16")."""
    if _is_torch(x):
        names = {torch.bfloat16: "bfloat16", torch.float16: "float16"}
        if x.dtype not in names:
            raise TypeError(f"tensor dtype {x.dtype}: expected torch.bfloat16 or torch.float16")
        bits = x.detach().contiguous().cpu().view(torch.int16).numpy().view(np.uint16)
        return np.ascontiguousarray(bits), names[x.dtype]
    a = np.asarray(x)
    if a.dtype == np.float16:
        return np.ascontiguousarray(a).view(np.uint16), "float16"
    if a.dtype == np.uint16:
        if dtype not in DTYPES:
            raise TypeError("uint16 input holds raw bits: pass dtype='bfloat16' or 'float16'")
        return np.ascontiguousarray(a), dtype
    raise TypeError(f"array dtype {a.dtype}: expected float16, or uint16 raw bits with dtype=")


def _numpy(x, np_dtype):
    if _is_torch(x):
        x = x.detach().cpu()
        x = x.float() if np_dtype == np.float32 else x
        x = x.numpy()
    return np.ascontiguousarray(np.asarray(x).astype(np_dtype))


def dump_mla_step(path, q, kv_cache, block_table, seq_lens, softmax_scale, out, lse,
                  source="recorded", description="", dtype=None):
    """q [batch, q_len, heads, 576], kv_cache [num_pages, page_size, 576] (bf16 or fp16),
    block_table [batch, max_pages] int, seq_lens [batch] int,
    out [batch, q_len, heads, 512], lse [batch, q_len, heads] in natural log.
    `dtype` only for numpy uint16 raw bits ("bfloat16" or "float16")."""
    q_bits, q_dtype = raw_bits(q, dtype)
    kv_bits, kv_dtype = raw_bits(kv_cache, dtype)
    if q_dtype != kv_dtype:
        raise TypeError(f"q is {q_dtype} but kv_cache is {kv_dtype}")
    if q_bits.ndim != 4 or q_bits.shape[3] != HEAD_DIM_QK:
        raise ValueError(f"q shape {q_bits.shape}: expected [batch, q_len, heads, 576]")
    if kv_bits.ndim != 3 or kv_bits.shape[2] != HEAD_DIM_QK:
        raise ValueError(f"kv_cache shape {kv_bits.shape}: expected [num_pages, page_size, 576]")
    with h5py.File(path, "w") as f:
        a = f.attrs
        a["format"] = "splitmla-fixture"  # str: h5py writes variable-length UTF-8
        a["version"] = np.int32(1)
        a["dtype"] = q_dtype
        a["softmax_scale"] = np.float64(softmax_scale)
        a["page_size"] = np.int32(kv_bits.shape[1])
        a["num_heads"] = np.int32(q_bits.shape[2])
        a["q_len"] = np.int32(q_bits.shape[1])
        a["head_dim_qk"] = np.int32(HEAD_DIM_QK)
        a["head_dim_v"] = np.int32(HEAD_DIM_V)
        a["source"] = source
        a["description"] = description
        f["inputs/q"] = q_bits
        f["inputs/kv_cache"] = kv_bits
        f["inputs/block_table"] = _numpy(block_table, np.int32)
        f["inputs/seq_lens"] = _numpy(seq_lens, np.int32)
        f["reference/out"] = _numpy(out, np.float32)
        f["reference/lse"] = _numpy(lse, np.float32)


# ---- the --demo step: random inputs, outputs in float64 with numpy ------------------------------

def bits_to_float(bits, dtype):
    if dtype == "float16":
        return bits.view(np.float16).astype(np.float64)
    return (bits.astype(np.uint32) << 16).view(np.float32).astype(np.float64)


def float_to_bits(x, dtype):
    if dtype == "float16":
        return x.astype(np.float16).view(np.uint16)
    b = np.asarray(x, dtype=np.float32).view(np.uint32).astype(np.uint64)
    b = (b + 0x7FFF + ((b >> 16) & 1)) >> 16  # round to nearest even (no NaN in these inputs)
    return b.astype(np.uint16)


def demo_step(dtype, seed):
    """A small step: 3 requests (one empty), 4 heads, page size 16, shuffled pages."""
    rng = np.random.default_rng(seed)
    heads, page, q_len = 4, 16, 1
    seq_lens = np.array([37, 0, 16], dtype=np.int32)
    max_pages = 3
    pages_needed = [(int(n) + page - 1) // page for n in seq_lens]
    num_pages = sum(pages_needed) + 1  # one spare page nobody reads
    ids = rng.permutation(num_pages).astype(np.int32)
    table = np.full((len(seq_lens), max_pages), num_pages, dtype=np.int32)  # unread: out of range
    at = 0
    for b, need in enumerate(pages_needed):
        table[b, :need] = ids[at:at + need]
        at += need
    q = float_to_bits(rng.standard_normal((len(seq_lens), q_len, heads, HEAD_DIM_QK)), dtype)
    kv = float_to_bits(rng.standard_normal((num_pages, page, HEAD_DIM_QK)), dtype)
    scale = 1.0 / np.sqrt(192.0)

    qf, kvf = bits_to_float(q, dtype), bits_to_float(kv, dtype)
    out = np.zeros((len(seq_lens), q_len, heads, HEAD_DIM_V))
    lse = np.full((len(seq_lens), q_len, heads), -np.inf)
    for b, n in enumerate(seq_lens):
        n = int(n)
        if n == 0:
            continue  # empty request: out = 0, lse = -inf
        rows = np.concatenate([kvf[table[b, j]] for j in range(pages_needed[b])])[:n]
        s = scale * qf[b, 0] @ rows.T  # [heads, n]
        m = s.max(axis=1, keepdims=True)
        p = np.exp(s - m)
        total = p.sum(axis=1, keepdims=True)
        out[b, 0] = (p / total) @ rows[:, :HEAD_DIM_V]
        lse[b, 0] = (m + np.log(total))[:, 0]
    return dict(q=q, kv_cache=kv, block_table=table, seq_lens=seq_lens, softmax_scale=scale,
                out=out, lse=lse, dtype=dtype)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--version", action="version", version="dump_step (SplitMLA fixture v1)")
    ap.add_argument("--demo", metavar="OUT.h5", required=True,
                    help="write a small random step with float64 outputs to OUT.h5")
    ap.add_argument("--dtype", choices=DTYPES, default="bfloat16")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args(argv)  # usage errors exit 2, as every SplitMLA executable
    step = demo_step(args.dtype, args.seed)
    dump_mla_step(args.demo, step["q"], step["kv_cache"], step["block_table"], step["seq_lens"],
                  step["softmax_scale"], step["out"], step["lse"], source="recorded",
                  description=f"dump_step.py --demo, {args.dtype}, seed {args.seed}",
                  dtype=step["dtype"])
    print(f"wrote {args.demo}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Decode one batch from Python with SplitMLA, check it against float64 math, and (on a GPU)
replay it in a CUDA graph with new lengths.

    python python/examples/decode_batch.py            # CUDA if available, else the CPU reference
    python python/examples/decode_batch.py --cpu      # force the CPU op (float64 reference)
"""
import argparse
import math

import torch

import splitmla


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cpu", action="store_true", help="use CPU tensors (the float64 reference op)")
    ap.add_argument("--heads", type=int, default=16)
    ap.add_argument("--page-size", type=int, default=64)
    ap.add_argument("--batch", type=int, default=4)
    args = ap.parse_args()
    device = torch.device("cuda" if torch.cuda.is_available() and not args.cpu else "cpu")
    heads, page, batch = args.heads, args.page_size, args.batch
    max_pages = 32                                       # up to 2048 tokens per request
    dtype = torch.bfloat16
    softmax_scale = 1.0 / math.sqrt(192)                 # the model's own scale

    # 1. Plan once for static bounds; keep the workspace (one per model or per stream).
    plan = splitmla.make_plan(heads, page, max_batch=batch, max_pages_per_seq=max_pages,
                              dtype=dtype, device=device)
    workspace = plan.new_workspace()
    print(f"device {device}: {heads} heads, page {page}, workspace {plan.workspace_bytes} bytes "
          f"({plan.num_sms} SMs planned)")

    # 2. A paged latent cache [num_pages, page_size, 576] and one request per row of the table.
    g = torch.Generator().manual_seed(0)
    num_pages = batch * max_pages
    kv_cache = torch.randn(num_pages, page, 576, generator=g).to(dtype).to(device)
    block_table = torch.randperm(num_pages, generator=g)[: batch * max_pages].view(batch, max_pages)
    block_table = block_table.to(torch.int32).to(device)
    seq_lens = torch.tensor([0, 1, 700, 2048][:batch] + [100] * max(0, batch - 4), dtype=torch.int32,
                            device=device)
    q = torch.randn(batch, 1, heads, 576, generator=g).to(dtype).to(device)

    # 3. Decode: out [batch, 1, heads, 512], lse [batch, 1, heads] (natural log, -inf if empty).
    out, lse = splitmla.decode(q, kv_cache, block_table, seq_lens, softmax_scale, plan,
                               workspace=workspace)

    # 4. Check one request against plain float64 math.
    b = 2
    n = int(seq_lens[b])
    pos = torch.arange(n, device=device)
    rows = kv_cache[block_table[b, pos // page].long(), pos % page].double()
    s = float(torch.tensor(softmax_scale, dtype=torch.float32)) * (q[b, 0].double() @ rows.T)
    ref = torch.softmax(s, dim=-1) @ rows[:, :512]
    err = (out[b, 0].double() - ref).abs().max().item()
    print(f"request {b} ({n} tokens): max |out - float64| = {err:.2e}; "
          f"lse[0] = {lse[b, 0, 0].item():.4f} vs {torch.logsumexp(s[0], 0).item():.4f}; "
          f"empty request lse = {lse[0, 0, 0].item()}")

    # 5. On a GPU: capture the step once, then replay it as lengths change (no host sync inside).
    if device.type == "cuda":
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            torch.ops.splitmla.decode_out(q, kv_cache, block_table, seq_lens, out, lse, workspace,
                                          *plan.op_args(), softmax_scale)
        for step in range(3):
            seq_lens.add_(1).clamp_(max=max_pages * page)   # one new token per request
            graph.replay()
        torch.cuda.synchronize()
        print(f"replayed 3 steps in a CUDA graph; lengths now {seq_lens.tolist()}")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Regression inputs for the fixture reader (each must be rejected; tests/fuzz/test_fuzz_corpus).

declares_15gb.h5 (issue 14, item 2): a format-v1 file of consistent shapes whose datasets declare
about 15 GB (q_len 65536, 7 splits, 932067 pages; each dataset under 2^31 elements) but store no
data. The reader used to allocate and zero-fill all of it; it must refuse it by the budget.
Run from the repository root with numpy and h5py:
    python3 data/fuzz/regressions/make_regressions.py data/fuzz/regressions
"""
import sys

import h5py
import numpy as np

d = sys.argv[1] if len(sys.argv) > 1 else "."
with h5py.File(f"{d}/declares_15gb.h5", "w") as f:
    a = f.attrs
    a["format"] = "splitmla-fixture"
    a["version"] = np.int32(1)
    a["dtype"] = "float16"
    a["softmax_scale"] = np.float64(0.135)
    for k, v in [("page_size", 4), ("num_heads", 3), ("q_len", 65536), ("head_dim_qk", 576),
                 ("head_dim_v", 512), ("num_splits", 7)]:
        a[k] = np.int32(v)
    a["source"] = "regression"
    a["description"] = "declares ~15 GB, stores nothing"
    for name, shape, dt in [("inputs/q", (3, 65536, 3, 576), np.uint16),
                            ("inputs/kv_cache", (932067, 4, 576), np.uint16),
                            ("inputs/block_table", (3, 2), np.int32),
                            ("inputs/seq_lens", (3,), np.int32),
                            ("reference/out", (3, 65536, 3, 512), np.float32),
                            ("reference/lse", (3, 65536, 3), np.float32),
                            ("reference/split_out", (3, 7, 65536, 3, 512), np.float32),
                            ("reference/split_lse", (3, 7, 65536, 3), np.float32)]:
        f.create_dataset(name, shape=shape, dtype=dt)  # no data written

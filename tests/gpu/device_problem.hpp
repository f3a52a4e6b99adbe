// A decode problem on the device with optional non-dense strides (pads poisoned so a stray read
// or write shows), and one run's outputs read back into the dense logical layout.
#pragma once

#include <algorithm>
#include <climits>
#include <cstdint>
#include <cstring>
#include <vector>

#include "gpu/gpu_checks.hpp"

namespace gputest {

// Device copies with optional padding between rows (non-dense strides). Pads are multiples of 8
// elements so every row stays 16-byte aligned.

struct Layout {
  int64_t q_pad_head = 0, q_pad_batch = 0;
  int64_t kv_pad_page = 0;
  int64_t bt_pad = 0;
  int64_t out_pad_head = 0, out_pad_batch = 0;
  int64_t lse_stride_head = 1, lse_pad_batch = 0;

  int64_t q_pad_token = 0, out_pad_token = 0, lse_pad_token = 0;  // between tokens (q_len > 1)

  static Layout dense() { return {}; }
  static Layout padded() {
    Layout l;
    l.q_pad_head = 64;
    l.q_pad_batch = 136;
    l.kv_pad_page = 72;
    l.bt_pad = 5;
    l.out_pad_head = 8;
    l.out_pad_batch = 520;
    l.lse_stride_head = 2;
    l.lse_pad_batch = 3;
    l.q_pad_token = 24;
    l.out_pad_token = 16;
    l.lse_pad_token = 5;
    return l;
  }
};

// The problem on the device, with q, kv and block table laid out by `layout`; out and lse are
// allocated (lse may be left off). Padding holds NaN (inputs), out-of-range ids (table), and the
// output poison, so reading or writing a pad shows.
struct DeviceProblem {
  HostProblem host;
  Layout layout;
  splitmla::DecodeArgs args{};
  DevBuf q, kv, bt, lens, out, lse, kv_scale;
  bool with_lse = true;

  int64_t q_elems() const { return host.batch == 0 ? 0 : args.q_stride_batch * host.batch; }
  int64_t out_elems() const { return host.batch == 0 ? 0 : args.out_stride_batch * host.batch; }
  int64_t lse_elems() const { return host.batch == 0 ? 0 : args.lse_stride_batch * host.batch; }

  // First call allocates; later calls need the same extents and copy into the same pointers
  // (what a graph replay sees).
  void upload(const HostProblem& p, const Layout& l = Layout::dense(), bool lse_on = true) {
    const bool first = q.get() == nullptr;
    if (!first) {
      BOOST_REQUIRE(p.batch == host.batch && p.num_heads == host.num_heads &&
                    p.page_size == host.page_size && p.num_pages == host.num_pages &&
                    p.max_pages_per_seq == host.max_pages_per_seq && p.dtype == host.dtype &&
                    p.q_len == host.q_len && p.kv_format == host.kv_format);
    }
    host = p;
    layout = l;
    with_lse = lse_on;
    const int64_t H = p.num_heads, T = p.q_len;
    splitmla::DecodeArgs a{};
    a.batch = p.batch;
    a.num_pages = p.num_pages;
    a.max_pages_per_seq = p.max_pages_per_seq;
    a.softmax_scale = static_cast<float>(p.softmax_scale);
    a.q_stride_head = kHeadDimQK + l.q_pad_head;
    a.q_stride_token = H * a.q_stride_head + (T > 1 ? l.q_pad_token : 0);
    a.q_stride_batch = T * a.q_stride_token + l.q_pad_batch;
    const bool fp8 = splitmla::is_fp8(p.kv_format);
    const int64_t row_bytes = splitmla::kv_row_bytes(p.kv_format);
    // fp8 caches: the stride is in bytes (the pad of 72 elements becomes 144 bytes).
    a.kv_stride_page = fp8 ? static_cast<int64_t>(p.page_size) * row_bytes + 2 * l.kv_pad_page
                           : static_cast<int64_t>(p.page_size) * kHeadDimQK + l.kv_pad_page;
    a.block_table_stride = p.max_pages_per_seq + l.bt_pad;
    a.out_stride_head = kHeadDimV + l.out_pad_head;
    a.out_stride_token = H * a.out_stride_head + (T > 1 ? l.out_pad_token : 0);
    a.out_stride_batch = T * a.out_stride_token + l.out_pad_batch;
    a.lse_stride_head = l.lse_stride_head;
    a.lse_stride_token = H * l.lse_stride_head + (T > 1 ? l.lse_pad_token : 0);
    a.lse_stride_batch = T * a.lse_stride_token + l.lse_pad_batch;
    args = a;

    std::vector<uint16_t> hq(static_cast<size_t>(q_elems()), kPoisonHalf);
    for (int32_t b = 0; b < p.batch; ++b)
      for (int64_t t = 0; t < T; ++t)
        for (int64_t h = 0; h < H; ++h)
          std::memcpy(&hq[static_cast<size_t>(b * a.q_stride_batch + t * a.q_stride_token + h * a.q_stride_head)],
                      &p.q[((static_cast<size_t>(b) * T + t) * H + h) * kHeadDimQK],
                      kHeadDimQK * sizeof(uint16_t));
    std::vector<uint16_t> hkv;
    std::vector<uint8_t> hkv8;  // fp8: page pads hold 0xFF (e4m3 NaN bytes, NaN scales)
    if (fp8) {
      hkv8.assign(static_cast<size_t>(a.kv_stride_page * p.num_pages), 0xFF);
      const size_t page_bytes = static_cast<size_t>(p.page_size * row_bytes);
      for (int32_t pg = 0; pg < p.num_pages; ++pg)
        std::memcpy(&hkv8[static_cast<size_t>(pg * a.kv_stride_page)], &p.kv_bytes[pg * page_bytes],
                    page_bytes);
    } else {
      hkv.assign(static_cast<size_t>(a.kv_stride_page * p.num_pages), kPoisonHalf);
      const size_t page_elems = static_cast<size_t>(p.page_size) * kHeadDimQK;
      for (int32_t pg = 0; pg < p.num_pages; ++pg)
        std::memcpy(&hkv[static_cast<size_t>(pg * a.kv_stride_page)], &p.kv_cache[pg * page_elems],
                    page_elems * sizeof(uint16_t));
    }
    std::vector<int32_t> hbt(static_cast<size_t>(a.block_table_stride * p.batch), INT_MIN);
    for (int32_t b = 0; b < p.batch; ++b)
      std::memcpy(&hbt[static_cast<size_t>(b * a.block_table_stride)],
                  &p.block_table[static_cast<size_t>(b) * p.max_pages_per_seq],
                  static_cast<size_t>(p.max_pages_per_seq) * sizeof(int32_t));

    if (first) {
      q.alloc(hq.size() * sizeof(uint16_t));
      kv.alloc(fp8 ? hkv8.size() : hkv.size() * sizeof(uint16_t));
      kv_scale.alloc(sizeof(float));
      bt.alloc(hbt.size() * sizeof(int32_t));
      lens.alloc(p.seq_lens.size() * sizeof(int32_t));
      out.alloc(static_cast<size_t>(out_elems()) * sizeof(uint16_t));
      lse.alloc(static_cast<size_t>(lse_elems()) * sizeof(float));
    }
    q.upload(hq);
    if (fp8) kv.upload(hkv8);
    else kv.upload(hkv);
    kv_scale.upload(std::vector<float>{p.kv_scale});
    bt.upload(hbt);
    lens.upload(p.seq_lens);
    args.q = q.get();
    args.kv_cache = kv.get();
    args.kv_scale = kv_scale.as<float>();
    args.block_table = bt.as<int32_t>();
    args.seq_lens = lens.as<int32_t>();
    args.out = out.get();
    args.lse = with_lse ? lse.as<float>() : nullptr;
  }

  // Only the seq_lens and block table contents (same pointers).
  void upload_lens_and_table(const std::vector<int32_t>& seq_lens, const std::vector<int32_t>& table) {
    host.seq_lens = seq_lens;
    host.block_table = table;
    std::vector<int32_t> hbt(static_cast<size_t>(args.block_table_stride * host.batch), INT_MIN);
    for (int32_t b = 0; b < host.batch; ++b)
      std::memcpy(&hbt[static_cast<size_t>(b * args.block_table_stride)],
                  &table[static_cast<size_t>(b) * host.max_pages_per_seq],
                  static_cast<size_t>(host.max_pages_per_seq) * sizeof(int32_t));
    bt.upload(hbt);
    lens.upload(seq_lens);
  }

  // Fills out and lse (the whole buffers, pads included) with 0xFF bytes: NaN everywhere.
  void poison_outputs() {
    out.fill_bytes(0xFF);
    lse.fill_bytes(0xFF);
  }
};

// What one run produced: the raw output bits and lse in the logical dense layout, plus whether
// every pad element kept its poison.
struct RunResult {
  std::vector<uint16_t> out_bits;  // [batch, q_len, heads, 512]
  std::vector<float> lse;          // [batch, q_len, heads]; empty when the run had no lse pointer
  int64_t pads_touched = 0;
  HostOutputs as_outputs(DType d) const {
    HostOutputs o;
    o.out.resize(out_bits.size());
    for (size_t i = 0; i < out_bits.size(); ++i) o.out[i] = splitmla::half_bits_to_float(d, out_bits[i]);
    o.lse = lse;
    return o;
  }
};

inline bool same_bits(const RunResult& a, const RunResult& b) {
  return a.out_bits.size() == b.out_bits.size() && a.lse.size() == b.lse.size() &&
         std::memcmp(a.out_bits.data(), b.out_bits.data(), a.out_bits.size() * sizeof(uint16_t)) == 0 &&
         std::memcmp(a.lse.data(), b.lse.data(), a.lse.size() * sizeof(float)) == 0;
}

// Reads the outputs back (after the caller synchronized or through the blocking copy).
inline RunResult read_back(DeviceProblem& dp) {
  RunResult r;
  const auto& a = dp.args;
  const int64_t H = dp.host.num_heads, T = dp.host.q_len;
  const std::vector<uint16_t> hout = dp.out.download<uint16_t>();
  std::vector<char> used(hout.size(), 0);
  r.out_bits.resize(static_cast<size_t>(dp.host.batch * T * H * kHeadDimV));
  for (int32_t b = 0; b < dp.host.batch; ++b)
    for (int64_t t = 0; t < T; ++t)
      for (int64_t h = 0; h < H; ++h) {
        const size_t src = static_cast<size_t>(b * a.out_stride_batch + t * a.out_stride_token +
                                               h * a.out_stride_head);
        std::memcpy(&r.out_bits[((static_cast<size_t>(b) * T + t) * H + h) * kHeadDimV], &hout[src],
                    kHeadDimV * sizeof(uint16_t));
        std::fill(used.begin() + static_cast<std::ptrdiff_t>(src),
                  used.begin() + static_cast<std::ptrdiff_t>(src + kHeadDimV), 1);
      }
  for (size_t i = 0; i < hout.size(); ++i)
    if (!used[i] && hout[i] != kPoisonHalf) ++r.pads_touched;

  const std::vector<uint32_t> hlse = dp.lse.download<uint32_t>();
  std::vector<char> lused(hlse.size(), 0);
  if (dp.with_lse) {
    r.lse.resize(static_cast<size_t>(dp.host.batch * T * H));
    for (int32_t b = 0; b < dp.host.batch; ++b)
      for (int64_t t = 0; t < T; ++t)
        for (int64_t h = 0; h < H; ++h) {
          const size_t src = static_cast<size_t>(b * a.lse_stride_batch + t * a.lse_stride_token +
                                                 h * a.lse_stride_head);
          std::memcpy(&r.lse[static_cast<size_t>((b * T + t) * H + h)], &hlse[src], sizeof(float));
          lused[src] = 1;
        }
  }
  for (size_t i = 0; i < hlse.size(); ++i)
    if (!lused[i] && hlse[i] != 0xFFFFFFFFu) ++r.pads_touched;
  return r;
}

}  // namespace gputest

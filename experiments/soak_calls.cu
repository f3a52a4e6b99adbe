// splitmla_soak: the kernels and helpers every phase shares (soak.hpp).
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <numeric>
#include <string>
#include <vector>

#include "soak.hpp"

namespace splitmla::soak {

std::string strf(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
std::string strf(const char* fmt, ...) {
  char buf[1024];
  std::va_list ap;
  va_start(ap, fmt);
  std::vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  return buf;
}

// ---- device kernels -------------------------------------------------------------------------

// Rows first_row .. page_size-1 of each listed page: NaN (clean == nullptr) or copied back from
// the clean copy of the pool. tails[e] = {page id, first row}.
__global__ void tail_rows(uint4* kv, const uint4* clean, const int2* tails, int count,
                          int page_size) {
  for (int e = blockIdx.x; e < count; e += gridDim.x) {
    const int2 t = tails[e];
    const int64_t first = (int64_t(t.x) * page_size + t.y) * kRowWords;
    const int64_t last = (int64_t(t.x) + 1) * page_size * kRowWords;
    for (int64_t w = first + threadIdx.x; w < last; w += blockDim.x)
      kv[w] = clean ? clean[w] : make_uint4(~0u, ~0u, ~0u, ~0u);
  }
}

// Counts elements of the tensor that are not finite (bf16/fp16 out: NaN or inf; float lse: NaN
// or +inf; -inf is an empty row's lse) and elements outside it that lost their poison bits.
// kind: 0 bf16, 1 fp16, 2 float32. counts[0] += bad inside, counts[1] += changed outside.
template <class T>
__global__ void count_unwritten(const T* buf, Region r, int kind, unsigned long long* counts) {
  unsigned long long bad = 0, stray = 0;
  const int64_t step = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < r.end; i += step) {
    const uint32_t x = uint32_t(buf[i]);
    bool inside = false;
    const int64_t j = i - r.begin;
    if (j >= 0 && r.batch > 0) {
      const int64_t b = j / r.stride_batch, rem = j - b * r.stride_batch;
      const int64_t h = rem / r.stride_head, d = rem - h * r.stride_head;
      inside = b < r.batch && h < r.heads && d < r.width;
    }
    if (inside) {
      if (kind == 0)
        bad += (x & 0x7FFFu) >= 0x7F80u;
      else if (kind == 1)
        bad += (x & 0x7FFFu) >= 0x7C00u;
      else
        bad += (x & 0x7FFFFFFFu) > 0x7F800000u || x == 0x7F800000u;
    } else {
      stray += x != (sizeof(T) == 2 ? 0xFFFFu : 0xFFFFFFFFu);
    }
  }
  if (bad) atomicAdd(counts, bad);
  if (stray) atomicAdd(counts + 1, stray);
}

int grid_for(int64_t n, int threads, int sms) {
  return int(
      std::max<int64_t>(1, std::min<int64_t>((n + threads - 1) / threads, int64_t(sms) * 8)));
}

// Recomputes the row as a one-request, one-head problem in float64 and compares with the
// contract's tolerances; an empty request must give exactly 0 and -inf.
void check_row(const RowJob& j, PhaseStats& st) {
  HostProblem p;
  p.dtype = j.dtype;
  p.batch = 1;
  p.q_len = 1;
  p.num_heads = 1;
  p.page_size = j.page;
  const int32_t used = int32_t(j.pages.size());
  const int32_t slots = std::max(1, used);
  p.num_pages = slots;
  p.max_pages_per_seq = slots;
  p.softmax_scale = double(j.scale);
  p.block_table.resize(size_t(slots));
  std::iota(p.block_table.begin(), p.block_table.end(), 0);
  p.seq_lens = {j.n};
  p.q = j.q;
  const size_t page_elems = size_t(j.page) * kHeadDimQK;
  p.kv_cache.assign(size_t(slots) * page_elems, kPoisonHalf);
  for (int32_t i = 0; i < used; ++i)
    std::memcpy(&p.kv_cache[size_t(i) * page_elems],
                j.kv_host->data() + size_t(j.pages[i]) * page_elems, page_elems * sizeof(uint16_t));
  HostOutputs ref;
  const Status s = reference_decode(p, &ref);
  if (s != Status::kSuccess) {
    st.failure(j.where + ": reference_decode: " + status_message(s));
    return;
  }
  HostOutputs got;
  got.out.resize(kHeadDimV);
  for (int d = 0; d < kHeadDimV; ++d) got.out[d] = half_bits_to_float(j.dtype, j.out[d]);
  got.lse = j.has_lse ? std::vector<float>{j.lse} : ref.lse;
  const CompareReport rep = compare_outputs(p, got, ref, Tolerance::for_dtype(j.dtype));
  ++st.rows;
  if (!rep.ok) {
    st.mismatch(j.where + ": " + rep.text);
    return;
  }
  if (j.n == 0) {
    bool zero = true;
    for (float v : got.out) zero = zero && v == 0.0f;
    const bool neg_inf = !j.has_lse || (std::isinf(j.lse) && j.lse < 0);
    if (!zero || !neg_inf)
      st.mismatch(j.where +
                  strf(": empty request must give out = 0 and lse = -inf (lse %g)", j.lse));
  }
}

void fill_pool(ValuePool* pool, DType d, size_t elems, uint64_t seed, bool kv_bias, int threads,
               bool keep_clean) {
  pool->dtype = d;
  pool->elems = elems;
  pool->host.resize(elems);
  std::vector<float> bias(kHeadDimQK, 0.f);
  if (kv_bias)
    for (int c = 0; c < kHeadDimQK; ++c)
      bias[c] = float(int64_t(hash64(seed * 977 + c) >> 40) - (int64_t(1) << 23)) / float(1 << 23);
  const uint64_t key = hash64(seed);
  std::vector<std::thread> ts;
  const size_t per = (elems + threads - 1) / threads;
  for (int t = 0; t < threads; ++t)
    ts.emplace_back([&, t] {
      const size_t lo = std::min(elems, per * t), hi = std::min(elems, lo + per);
      for (size_t i = lo; i < hi; ++i) {
        const float u = float(int64_t(hash64(key + i) >> 40) - (int64_t(1) << 23)) / float(1 << 23);
        const float v = kv_bias ? 0.5f * bias[i % kHeadDimQK] + 0.5f * u : u;
        pool->host[i] = float_to_half_bits(d, v);
      }
    });
  for (auto& t : ts) t.join();
  pool->dev = DeviceArray<uint16_t>(elems, "cudaMalloc(value pool)");
  check_cuda(cudaMemcpy(pool->dev.get(), pool->host.data(), elems * 2, cudaMemcpyHostToDevice),
             "upload value pool");
  if (keep_clean) {
    pool->clean = DeviceArray<uint16_t>(elems, "cudaMalloc(clean value pool)");
    check_cuda(cudaMemcpy(pool->clean.get(), pool->dev.get(), elems * 2, cudaMemcpyDeviceToDevice),
               "copy clean value pool");
  }
}

// Out-of-range page ids for the entries no visible position needs: the shared table's first four
// (num_pages, -1, INT_MAX, INT_MIN), or a random one past the cache or below -1.
int32_t bad_page_id(Rng& rng, int32_t num_pages) {
  const int64_t k = rng.below(6);
  if (k < 4) return testsupport::bad_page_id(num_pages, k);
  if (k == 4) return num_pages + 1 + int32_t(rng.below(100000));
  return -2 - int32_t(rng.below(100000));
}

// Hands out each request's pages (a fresh random subset of the pool, in random order: a partial
// shuffle of the page size's persistent permutation), fills the rest of every table row with
// out-of-range ids, and lists the last page of each request whose length is not a page multiple
// (its rows past the length are poisoned for the call). Writes the pinned staging buffers.
int deal_pages(Ctx& ctx, const Call& c, Rng& rng) {
  const int32_t np = ctx.num_pages(c.page);
  std::vector<int32_t>& perm = ctx.perms[c.page];
  if (perm.empty()) {
    perm.resize(size_t(np));
    std::iota(perm.begin(), perm.end(), 0);
  }
  if (size_t(c.batch) * c.bt_stride > ctx.table_cap || size_t(c.batch) > ctx.lens_cap)
    die("internal: table %d x %lld exceeds the staging buffer", c.batch, (long long)c.bt_stride);
  int64_t next = 0;
  int tails = 0;
  for (int32_t b = 0; b < c.batch; ++b) {
    const int32_t n = c.lens[size_t(b)];
    const int32_t used = pages_needed(n, c.page);
    if (used > c.width) die("internal: request %d needs %d pages, width %d", b, used, c.width);
    int32_t* row = ctx.h_table.get() + size_t(b) * c.bt_stride;
    for (int32_t j = 0; j < used; ++j, ++next) {
      if (next >= np) die("internal: call needs more than the pool's %d pages", np);
      std::swap(perm[size_t(next)], perm[size_t(next + rng.below(np - next))]);
      row[j] = perm[size_t(next)];
    }
    // The entries right past the needed ones get a random kind each; the rest of a wide row
    // cycles through every kind (no draw per entry: tables reach 33M entries at page size 1).
    const int64_t drawn = std::min<int64_t>(c.bt_stride, int64_t(used) + 4);
    for (int64_t j = used; j < drawn; ++j) row[j] = bad_page_id(rng, np);
    if (drawn < c.bt_stride) {
      int32_t cycle[6];
      for (auto& v : cycle) v = bad_page_id(rng, np);
      for (int64_t j = drawn, k = 0; j < c.bt_stride; ++j, k = k == 5 ? 0 : k + 1)
        row[j] = cycle[k];
    }
    if (n % c.page != 0) ctx.h_tails[size_t(tails++)] = make_int2(row[used - 1], n % c.page);
    ctx.h_lens[size_t(b)] = n;
  }
  return tails;
}

// Copies the staged lens, table and tail list to the device and poisons the tail rows.
void upload_and_poison(Ctx& ctx, const Call& c, int tails) {
  cudaStream_t s = ctx.stream;
  check_cuda(cudaMemcpyAsync(ctx.d_lens.get(), ctx.h_lens.get(), size_t(c.batch) * 4,
                             cudaMemcpyHostToDevice, s),
             "upload seq_lens");
  check_cuda(cudaMemcpyAsync(ctx.d_table.get(), ctx.h_table.get(),
                             size_t(c.batch) * c.bt_stride * 4, cudaMemcpyHostToDevice, s),
             "upload block_table");
  if (tails > 0) {
    check_cuda(cudaMemcpyAsync(ctx.d_tails.get(), ctx.h_tails.get(), size_t(tails) * sizeof(int2),
                               cudaMemcpyHostToDevice, s),
               "upload tail list");
    tail_rows<<<std::min(tails, 4096), 128, 0, s>>>(
        reinterpret_cast<uint4*>(ctx.kv[int(c.dtype)].dev.get()), nullptr, ctx.d_tails.get(), tails,
        c.page);
    check_cuda(cudaGetLastError(), "tail_rows launch");
  }
}

void restore_tails(Ctx& ctx, const Call& c, int tails) {
  if (tails == 0) return;
  const ValuePool& kv = ctx.kv[int(c.dtype)];
  tail_rows<<<std::min(tails, 4096), 128, 0, ctx.stream>>>(
      reinterpret_cast<uint4*>(kv.dev.get()), reinterpret_cast<const uint4*>(kv.clean.get()),
      ctx.d_tails.get(), tails, c.page);
  check_cuda(cudaGetLastError(), "tail_rows (restore) launch");
}

Region out_region(const Call& c, const OutBuffers& ob) {
  Region r;
  r.begin = kGuardBefore;
  r.end = std::min<int64_t>(int64_t(ob.out.size()), kGuardBefore + c.out_extent() + kGuardAfter);
  r.stride_batch = c.o_sb > 0 ? c.o_sb : int64_t(c.heads) * c.o_sh;
  r.stride_head = c.o_sh;
  r.width = kHeadDimV;
  r.batch = c.batch;
  r.heads = c.heads;
  return r;
}

Region lse_region(const Call& c, const OutBuffers& ob) {
  Region r;
  r.begin = kGuardBefore;
  r.end = std::min<int64_t>(int64_t(ob.lse.size()), kGuardBefore + c.lse_extent() + kGuardAfter);
  r.stride_batch = c.l_sb > 0 ? c.l_sb : int64_t(c.heads) * c.l_sh;
  r.stride_head = c.l_sh;
  r.width = 1;
  r.batch = c.with_lse ? c.batch : 0;
  r.heads = c.heads;
  return r;
}

void poison_outputs(Ctx& ctx, const Call& c, OutBuffers& ob) {
  const Region o = out_region(c, ob), l = lse_region(c, ob);
  if (o.end > int64_t(ob.out.size()) || c.out_extent() + kGuardBefore > int64_t(ob.out.size()))
    die("internal: output extent exceeds its buffer");
  check_cuda(cudaMemsetAsync(ob.out.get(), 0xFF, size_t(o.end) * 2, ctx.stream), "poison out");
  check_cuda(cudaMemsetAsync(ob.lse.get(), 0xFF, size_t(l.end) * 4, ctx.stream), "poison lse");
}

// Counts unwritten/stray output elements into d_counts[slot*4 .. slot*4+3].
void count_outputs(Ctx& ctx, const Call& c, const OutBuffers& ob, int slot) {
  const Region o = out_region(c, ob), l = lse_region(c, ob);
  unsigned long long* counts = ctx.d_counts.get() + slot * 4;
  check_cuda(cudaMemsetAsync(counts, 0, 4 * sizeof(unsigned long long), ctx.stream), "zero counts");
  launch_count_unwritten(ctx, ob.out.get(), o, c.dtype == DType::kBFloat16 ? 0 : 1, counts);
  launch_count_unwritten(ctx, reinterpret_cast<const uint32_t*>(ob.lse.get()), l, 2, counts + 2);
  check_cuda(cudaGetLastError(), "count_unwritten launch");
}

DecodeArgs make_args(const Ctx& ctx, const Call& c, const OutBuffers& ob) {
  DecodeArgs a{};
  a.batch = c.batch;
  a.num_pages = ctx.num_pages(c.page);
  a.max_pages_per_seq = c.width;
  a.softmax_scale = c.scale;
  a.q = ctx.q_of(c.dtype).dev.get() + c.q_off;
  a.q_stride_head = c.q_sh;
  a.q_stride_token = int64_t(c.heads) * c.q_sh;
  a.q_stride_batch = c.q_sb;
  a.kv_cache = ctx.kv_of(c.dtype).dev.get();
  a.kv_stride_page = int64_t(c.page) * kHeadDimQK;
  a.block_table = ctx.d_table.get();
  a.block_table_stride = c.bt_stride;
  a.seq_lens = ctx.d_lens.get();
  a.out = ob.out.get() + kGuardBefore;
  a.out_stride_head = c.o_sh;
  a.out_stride_token = int64_t(c.heads) * c.o_sh;
  a.out_stride_batch = c.o_sb;
  a.lse = c.with_lse ? ob.lse.get() + kGuardBefore : nullptr;
  a.lse_stride_head = c.l_sh;
  a.lse_stride_token = int64_t(c.heads) * c.l_sh;
  a.lse_stride_batch = c.l_sb;
  return a;
}

// Evaluates d_counts[slot] (already copied to h_counts): unwritten or stray elements.
void judge_counts(const Ctx& ctx, const Call& c, int slot, const std::string& where,
                  PhaseStats& st) {
  const unsigned long long* k = ctx.h_counts.get() + slot * 4;
  if (k[0] || k[2])
    st.mismatch(where + strf(": %llu out and %llu lse elements unwritten or not finite (%s)", k[0],
                             k[2], c.label.c_str()));
  if (k[1] || k[3])
    st.mismatch(where + strf(": %llu out and %llu lse elements written outside the tensors (%s)",
                             k[1], k[3], c.label.c_str()));
}

// The (request, head) rows checked against the reference: an empty request when there is one,
// two more at random (the last head among them half the time), and now and then the longest.
std::vector<std::pair<int32_t, int32_t>> pick_rows(const Call& c, Rng& rng, double longest_p) {
  std::vector<std::pair<int32_t, int32_t>> rows;
  auto add = [&](int32_t b, int32_t h) {
    if (int(rows.size()) >= kMaxRows) return false;
    for (auto& r : rows)
      if (r.first == b && r.second == h) return false;
    rows.emplace_back(b, h);
    return true;
  };
  std::vector<int32_t> empties;
  for (int32_t b = 0; b < c.batch; ++b)
    if (c.lens[size_t(b)] == 0) empties.push_back(b);
  if (!empties.empty()) add(rng.pick(empties), int32_t(rng.below(c.heads)));
  const int64_t distinct = int64_t(c.batch) * c.heads;
  for (int got = 0, tries = 0; got < 2 && tries < 16 && int64_t(rows.size()) < distinct; ++tries)
    got += add(int32_t(rng.below(c.batch)),
               rng.chance(0.5) ? c.heads - 1 : int32_t(rng.below(c.heads)));
  if (rng.chance(longest_p)) {
    const auto it = std::max_element(c.lens.begin(), c.lens.end());
    add(int32_t(it - c.lens.begin()), int32_t(rng.below(c.heads)));
  }
  return rows;
}

// Queues the D2H copies of the chosen rows (out bits and lse) from `ob` into h_rows/h_row_lse.
void copy_rows(Ctx& ctx, const Call& c, const OutBuffers& ob,
               const std::vector<std::pair<int32_t, int32_t>>& rows) {
  for (size_t i = 0; i < rows.size(); ++i) {
    const int64_t b = rows[i].first, h = rows[i].second;
    check_cuda(cudaMemcpyAsync(ctx.h_rows.get() + i * kHeadDimV,
                               ob.out.get() + kGuardBefore + b * c.o_sb + h * c.o_sh, kHeadDimV * 2,
                               cudaMemcpyDeviceToHost, ctx.stream),
               "copy out row");
    if (c.with_lse)
      check_cuda(cudaMemcpyAsync(ctx.h_row_lse.get() + i,
                                 ob.lse.get() + kGuardBefore + b * c.l_sb + h * c.l_sh,
                                 sizeof(float), cudaMemcpyDeviceToHost, ctx.stream),
                 "copy lse");
  }
}

// The reference check of row (b, h) of a call whose out bits are at `out` (host memory).
RowJob make_row_job(const Ctx& ctx, const Call& c, int32_t b, int32_t h, const uint16_t* out,
                    float lse, const std::string& where) {
  RowJob j;
  j.kv_host = &ctx.kv_of(c.dtype).host;
  j.dtype = c.dtype;
  j.page = c.page;
  j.scale = c.scale;
  j.n = c.lens[size_t(b)];
  const int32_t* row = ctx.h_table.get() + size_t(b) * c.bt_stride;
  j.pages.assign(row, row + pages_needed(j.n, c.page));
  const uint16_t* q =
      ctx.q_of(c.dtype).host.data() + c.q_off + int64_t(b) * c.q_sb + int64_t(h) * c.q_sh;
  j.q.assign(q, q + kHeadDimQK);
  j.out.assign(out, out + kHeadDimV);
  j.lse = lse;
  j.has_lse = c.with_lse;
  j.where = where + strf(" request %d (seq_len %d) head %d, %s", b, j.n, h, c.label.c_str());
  return j;
}

// Proves on one real call that the checks can fail: an output element left as poison, a write
// into the guard band after the tensor, and one wrong value in a checked row must each be
// caught. Runs after the call's own checks (it damages the outputs); false names what slipped.
bool self_check(Ctx& ctx, const Call& c, OutBuffers& ob, int32_t b, int32_t h, std::string* why) {
  std::vector<uint16_t> row(kHeadDimV);
  check_cuda(cudaMemcpy(row.data(),
                        ob.out.get() + kGuardBefore + int64_t(b) * c.o_sb + int64_t(h) * c.o_sh,
                        kHeadDimV * 2, cudaMemcpyDeviceToHost),
             "copy row");
  float lse = 0.f;
  if (c.with_lse)
    check_cuda(
        cudaMemcpy(&lse, ob.lse.get() + kGuardBefore + int64_t(b) * c.l_sb + int64_t(h) * c.l_sh, 4,
                   cudaMemcpyDeviceToHost),
        "copy lse");
  const int64_t last = kGuardBefore + c.out_extent() - 1;   // last element of the last row
  const int64_t guard = kGuardBefore + c.out_extent() + 7;  // inside the guard after
  check_cuda(cudaMemsetAsync(ob.out.get() + last, 0xFF, 2, ctx.stream), "plant unwritten");
  check_cuda(cudaMemsetAsync(ob.out.get() + guard, 0x00, 2, ctx.stream), "plant stray");
  count_outputs(ctx, c, ob, 2);
  check_cuda(cudaMemcpyAsync(ctx.h_counts.get() + 8, ctx.d_counts.get() + 8,
                             4 * sizeof(unsigned long long), cudaMemcpyDeviceToHost, ctx.stream),
             "copy counts");
  check_cuda(cudaStreamSynchronize(ctx.stream), "self-check");
  const unsigned long long* before = ctx.h_counts.get();
  const unsigned long long* after = ctx.h_counts.get() + 8;
  if (after[0] != before[0] + 1)
    *why += strf(" planted unwritten element counted %llu times;", after[0] - before[0]);
  if (after[1] != before[1] + 1)
    *why += strf(" planted stray write counted %llu times;", after[1] - before[1]);
  RowJob j = make_row_job(ctx, c, b, h, row.data(), lse, "self-check");
  PhaseStats good("self-check"), bad("self-check");
  good.quiet = bad.quiet = true;
  check_row(j, good);
  j.out[100] = float_to_half_bits(c.dtype, half_bits_to_float(c.dtype, j.out[100]) + 0.25f);
  check_row(j, bad);
  if (good.mismatches != 0 || good.failures != 0) *why += " the untouched row did not pass;";
  if (bad.mismatches != 1) *why += " a row with one value off by 0.25 passed;";
  return why->empty();
}

std::string label_of(const Call& c, bool padded) {
  return strf(
      "%s heads %d page %d batch %d width %d policy %s max_batch %d planned_width %d%s%s "
      "scale %.4g%s",
      dtype_short(c.dtype), c.heads, c.page, c.batch, c.width,
      policy_text(c.config.policy).c_str(), c.config.max_batch, c.config.max_pages_per_seq,
      c.config.num_sms ? " num_sms " : "",
      c.config.num_sms ? std::to_string(c.config.num_sms).c_str() : "", double(c.scale),
      (std::string(c.with_lse ? "" : " no-lse") + (padded ? " padded" : "")).c_str());
}

// Plans `c.config`, shrinking the policy (planned batch, planned width, then a longer chunk or
// fewer forced splits) until its workspace fits `budget` bytes and part1's grid `max_ctas` CTAs
// (a chunk of 16 tokens over a planned 65536 gives 4096 mostly empty pieces per request).
bool plan_within(Call& c, size_t budget, int64_t max_ctas, Plan* plan, PhaseStats& st,
                 int64_t* adjusted) {
  for (int tries = 0; tries < 64; ++tries) {
    const Status s = make_plan(c.config, plan);
    if (s != Status::kSuccess) {
      st.failure(strf("make_plan (%s): %s", label_of(c, false).c_str(), status_message(s).c_str()));
      return false;
    }
    if (plan->workspace_bytes <= budget && int64_t(plan->work_ctas) * plan->row_blocks <= max_ctas)
      return true;
    ++*adjusted;
    SplitPolicy& p = c.config.policy;
    if (c.config.max_batch > c.batch)
      c.config.max_batch = c.batch;
    else if (c.config.max_pages_per_seq > c.width)
      c.config.max_pages_per_seq = c.width;
    else if (p.kind == SplitPolicyKind::kChunk)
      p.value *= 2;
    else if (p.kind == SplitPolicyKind::kForced && p.value > 1)
      p.value = std::max(1, p.value / 2);
    else
      break;
  }
  st.failure(strf("no policy of %s fits the %zu-byte workspace and %lld-CTA budgets",
                  label_of(c, false).c_str(), budget, (long long)max_ctas));
  return false;
}

// count_unwritten over `r` of `buf` on ctx.stream (kind: 0 bf16, 1 fp16, 2 float32 bits).
void launch_count_unwritten(const Ctx& ctx, const uint16_t* buf, const Region& r, int kind,
                            unsigned long long* counts) {
  count_unwritten<<<grid_for(r.end, 256, ctx.gpu.num_sms), 256, 0, ctx.stream>>>(buf, r, kind,
                                                                                   counts);
}
void launch_count_unwritten(const Ctx& ctx, const uint32_t* buf, const Region& r, int kind,
                            unsigned long long* counts) {
  count_unwritten<<<grid_for(r.end, 256, ctx.gpu.num_sms), 256, 0, ctx.stream>>>(buf, r, kind,
                                                                                   counts);
}

}  // namespace splitmla::soak

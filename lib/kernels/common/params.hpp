// Kernel parameter structs and the device-side schedule written into the workspace.
// One plain struct per kernel, passed by value as a __grid_constant__ argument.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "splitmla/shard.hpp"
#include "splitmla/types.hpp"

namespace splitmla::kernels {

// Row geometry, named once: a q or 16-bit cache row holds kHeadDimQK = 576 values (512 latent,
// the value part, then 64 rope; types.hpp), an output row kHeadDimV = 512.
inline constexpr int kRowBytes16 = kHeadDimQK * 2;     // bytes of a 16-bit row: 1152
inline constexpr int kRowChunks16 = kRowBytes16 / 16;  // its 16-byte chunks: 72

// One contiguous range of visible positions of one request, processed by one part1 CTA row.
// A request's pieces cut its longest row, [0, max over t of token_limits[b][t]); a row whose
// own limit ends before `end` masks the rest, and a piece past a row's limit is an empty partial
// for that row (o = 0, lse = -inf).
struct Piece {
  int32_t b;      // request
  int32_t begin;  // first position (inclusive)
  int32_t end;    // last position (exclusive), clipped to the longest row; begin == end: empty
  int32_t slot;   // partial-output slot; -1: the piece is the whole request, write `out` directly
  int32_t cta;    // work CTA that owns the piece (auto policy)
  int32_t pad[3];
};

// A request with more than one piece: part2 merges slots first_slot .. first_slot+count-1.
struct MultiEntry {
  int32_t b, first_slot, count, pad;
};

struct WsHeader {
  int32_t num_pieces;
  int32_t num_multi;
  int64_t per_cta_cost;  // auto policy: cost units per work CTA
  int32_t pad[60];
};

struct PlannerParams {
  const int32_t* seq_lens;   // [batch] int32
  int32_t* token_limits;     // [max_batch, q_len] int32: visible positions of each query token
  Piece* pieces;             // [pieces_bound]
  int32_t* cta_begin;        // [work_ctas + 1] (auto only)
  MultiEntry* multi;         // [multi_bound]
  uint32_t* req_error;       // [max_batch] ErrorBits per request
  WsHeader* header;
  int32_t batch;
  int32_t q_len;
  int32_t causal;            // 1: causal visibility; 0: every token sees seq_len
  int32_t policy_kind;       // SplitPolicyKind
  int32_t policy_value;
  int32_t work_ctas;
  int32_t key_tile;           // auto: pieces start and end at multiples of it (Plan::key_tile)
  int32_t auto_even;          // auto: 1 allows the even shape (split_rule::auto_even_length)
  int64_t capacity;          // max_pages_per_seq * page_size of this call
  int32_t all_slots;         // 1: every request's pieces go to partial slots (fp32 out, cp)
  // Context-parallel shard (lib/cp): sharded = 1 makes seq_lens the GLOBAL lengths and every
  // token limit this rank's count below the token's global limit (visibility::shard_token_limit);
  // capacity is then the rank's local table capacity.
  int32_t sharded;
  ShardSpec shard;
};

// part1 instance families by cache format (template parameter KV of the mma.sync part1 kernel).
inline constexpr int kKvNative = 0;  // 16-bit rows of the q dtype
inline constexpr int kKvFp8 = 1;     // fp8_e4m3 or fp8_ds_mla rows (Part1Params::kv_format picks)

// KV rows (keys) per tile of each part1 family's main loop, read by the kernels' traits and by
// the variant table (Part1Row::key_tile, which the auto policy aligns its pieces to). mma.sync:
// 64 at 16 rows per CTA (16-bit and fp8 caches), else 32; wgmma: 64.
constexpr int mma_sync_key_tile(int mt, int /*kv*/) { return mt == 1 ? 64 : 32; }
inline constexpr int kWgmmaKeyTile = 64;

// Query rows: a request's q_len x num_heads (token, head) pairs packed token-major, row
// r = t * num_heads + h; they are the M dimension of a part1 CTA (`rows_per_cta` rows per row
// block). With q_len = 1 a row is a head.
struct Part1Params {
  const void* q;             // [batch, q_len, heads, 576] dtype
  int64_t q_stride_batch, q_stride_head;
  const void* kv;            // [num_pages, page_size, row]: 576 dtype values, or fp8 row bytes
  int64_t kv_stride_page;    // elements (16-bit rows) or bytes (fp8 rows)
  const float* kv_scale;     // fp8_e4m3: [1] float32 per call; unused otherwise
  int32_t kv_format;         // KvFormat
  const int32_t* block_table;  // [batch, max_pages_per_seq]
  int64_t bt_stride;
  void* out;                 // [batch, q_len, heads, 512] dtype
  int64_t out_stride_batch, out_stride_head;
  float* lse;                // [batch, q_len, heads] float or nullptr
  int64_t lse_stride_batch, lse_stride_head;
  const Piece* pieces;
  const int32_t* cta_begin;
  const WsHeader* header;
  float* part_out;           // [slots, rows, 512] float (rows = q_len * heads)
  float* part_lse;           // [slots, rows] float, natural log
  uint32_t* req_error;       // [max_batch]
  int32_t num_heads;
  int32_t num_pages;
  int32_t page_shift;        // log2(page_size)
  int32_t head_blocks;       // row blocks per work CTA: ceil(rows / rows_per_cta)
  int32_t one_piece_per_cta; // forced/chunk: piece index = work CTA index
  float scale_log2;          // softmax_scale * log2(e)
  // Multi-token fields (both kernels).
  const int32_t* token_limits;  // [max_batch, q_len] int32: visible positions per token
  int64_t q_stride_token, out_stride_token, lse_stride_token;
  int32_t q_len;
  int32_t rows;              // q_len * num_heads
};

struct Part2Params {
  const MultiEntry* multi;
  const WsHeader* header;
  const float* part_out;     // [slots, rows, 512]
  const float* part_lse;     // [slots, rows]
  void* out;                 // [batch, q_len, heads, 512] dtype
  int64_t out_stride_batch, out_stride_token, out_stride_head;
  float* lse;                // [batch, q_len, heads] float or nullptr
  int64_t lse_stride_batch, lse_stride_token, lse_stride_head;
  int32_t num_heads;
  int32_t rows;              // q_len * num_heads
  int32_t out_f32;           // 1: out is float32 (context-parallel partials), else dtype
};

// Launchers of the planner and part2 (planner/planner.cu, part2/part2.cu); part1's launch,
// preparation and occupancy go through the variant table (part1/variants.hpp). They only
// launch: no allocation, no sync.
cudaError_t launch_planner(const PlannerParams& p, cudaStream_t stream);
// `pairs` = the static bound of (request, row) pairs; the grid holds at most what `num_sms` SMs
// hold at once (the kernel walks num_multi x rows pairs with a grid stride); `wide` picks the
// layout for few pairs (part2.cu); `pdl` (Plan::pdl) launches with programmatic stream
// serialization, the kernel waiting on part1 with griddepcontrol.wait first thing (a no-op in a
// plain launch).
cudaError_t launch_part2(DType dtype, const Part2Params& p, int pairs, int num_sms, bool wide,
                         bool pdl, cudaStream_t stream);
// Load the planner and part2 modules now (host call at plan time): with lazy module loading
// their first launch would otherwise load them, possibly inside a stream capture.
cudaError_t load_planner();
cudaError_t load_part2(DType dtype);

}  // namespace splitmla::kernels

// Weight upload, streamed: host tensors (views into the mmapped checkpoint, any float dtype) are
// converted to the device dtype on CPU threads into a few pinned staging buffers, and each filled
// buffer is copied with cudaMemcpyAsync on a dedicated copy stream, so reading the file (page faults:
// the disk when the page cache is cold) and converting the next buffer overlap the DMA of the
// previous one. A destination in host memory (the pinned home of a parked Wan2.2 expert) is written
// directly and, with a device destination too, copied from there without a second staging copy.
//
// TW_UPLOAD=sync in the environment selects the old path (one tensor at a time, single-threaded,
// pageable synchronous cudaMemcpy) — the baseline the cold-start bench compares against.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "tw/tensor.h"

namespace tw::engine {

// Elements [first, first + count) of `src` (host, contiguous; F32/BF16/F16 → F32/BF16, or the
// same dtype for any) written to `out` as `dt`. Bit-exact with to_f32 + the scalar conversions.
void convert_range(const Tensor& src, int64_t first, int64_t count, DType dt, void* out);

// Page-locked host memory (cudaHostAlloc); plain heap memory in a build without CUDA.
class PinnedBuffer {
 public:
  PinnedBuffer() = default;
  explicit PinnedBuffer(size_t bytes);
  ~PinnedBuffer();
  PinnedBuffer(PinnedBuffer&& o) noexcept;
  PinnedBuffer& operator=(PinnedBuffer&& o) noexcept;
  PinnedBuffer(const PinnedBuffer&) = delete;
  PinnedBuffer& operator=(const PinnedBuffer&) = delete;
  uint8_t* get() const { return ptr_; }
  size_t bytes() const { return bytes_; }
 private:
  uint8_t* ptr_ = nullptr;
  size_t bytes_ = 0;
};

class StagedUploader {
 public:
  struct Options {
    size_t chunk_bytes = size_t(64) << 20;  // one staging buffer; also the batch converted at once
    int buffers = 3;                        // filling one while up to two copy
    bool synchronous = false;               // the old path (also forced by TW_UPLOAD=sync)
  };
  struct Stats {
    size_t bytes = 0;          // bytes written to destinations
    double convert_ms = 0;     // CPU time converting (wall, all threads together)
    double wait_ms = 0;        // waiting for a staging buffer's previous copy
  };
  StagedUploader();
  explicit StagedUploader(const Options& o);
  ~StagedUploader();  // waits for the copies in flight
  StagedUploader(const StagedUploader&) = delete;
  StagedUploader& operator=(const StagedUploader&) = delete;

  // Queues `src` converted to `dt` for `dev` (device memory) and/or `host` (host memory, pinned when
  // `dev` is also given). `keep` holds `src`'s storage alive until it was read.
  void add(const Tensor& src, DType dt, void* dev, void* host = nullptr, std::shared_ptr<const void> keep = nullptr);
  // Declares that the next adds' device destinations inside [base, base + bytes) belong to one
  // allocation, so adjacent tensors there may go in one DMA (a copy must not span allocations).
  void set_arena(const void* base, size_t bytes);
  // Converts and copies everything queued; returns when the device holds it.
  void finish();
  const Stats& stats() const { return stats_; }
  bool synchronous() const { return opts_.synchronous; }

 private:
  struct Piece {
    Tensor src;
    DType dt;
    int64_t first, count;
    uint8_t* dev;
    uint8_t* host;
    size_t stage_off;  // into the staging buffer when host is null
    int arena;         // set_arena id when dev lies in it, else −1 (never merged)
    std::shared_ptr<const void> keep;
  };
  void flush();
  Options opts_;
  Stats stats_;
  std::vector<Piece> batch_;
  size_t batch_bytes_ = 0, staged_bytes_ = 0;
  const uint8_t *arena_lo_ = nullptr, *arena_hi_ = nullptr;
  int arena_id_ = -1;
  struct Gpu;
  std::unique_ptr<Gpu> gpu_;
};

}  // namespace tw::engine

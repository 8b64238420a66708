#include "core/staged_upload.h"

#include <sys/mman.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <mutex>
#include <string>
#include <thread>
#include <utility>

#ifdef TW_CUDA
#include "tw/cuda/check.h"
#endif

namespace tw::engine {

namespace {

using Clock = std::chrono::steady_clock;
double ms_since(Clock::time_point t) { return std::chrono::duration<double, std::milli>(Clock::now() - t).count(); }

constexpr size_t kAlign = 256;  // staging offsets as cudaMalloc aligns device buffers
size_t align_up(size_t n) { return (n + kAlign - 1) & ~(kAlign - 1); }

// Starts the kernel's readahead for a source range (asynchronous; a cold file then streams from
// disk with a deep queue instead of one page fault at a time). Small ranges are not worth a call.
void prefetch(const void* p, size_t n) {
  if (n < (size_t(1) << 20)) return;
  const uintptr_t page = 4096, a = uintptr_t(p) & ~(page - 1);
  ::madvise(reinterpret_cast<void*>(a), n + (uintptr_t(p) - a), MADV_WILLNEED);
}

// Runs fn(i) for i in [0, n) on up to hardware_concurrency threads (page faults and dtype
// conversion of one 64 MiB batch in parallel); the first exception is rethrown.
template <class Fn>
void parallel_for(size_t n, const Fn& fn) {
  const size_t hw = std::max(1u, std::thread::hardware_concurrency());
  const size_t nt = std::min({n, hw, size_t(16)});
  if (nt <= 1) {
    for (size_t i = 0; i < n; ++i) fn(i);
    return;
  }
  std::atomic<size_t> next{0};
  std::exception_ptr err;
  std::mutex mu;
  auto work = [&] {
    for (size_t i; (i = next.fetch_add(1)) < n;) {
      try {
        fn(i);
      } catch (...) {
        std::lock_guard<std::mutex> g(mu);
        if (!err) err = std::current_exception();
      }
    }
  };
  std::vector<std::thread> ts;
  for (size_t t = 1; t < nt; ++t) ts.emplace_back(work);
  work();
  for (auto& t : ts) t.join();
  if (err) std::rethrow_exception(err);
}

}  // namespace

void convert_range(const Tensor& src, int64_t first, int64_t count, DType dt, void* out) {
  const size_t ss = dtype_size(src.dtype), ds = dtype_size(dt);
  const uint8_t* in = static_cast<const uint8_t*>(src.data) + size_t(first) * ss;
  if (src.dtype == dt) {
    std::memcpy(out, in, size_t(count) * ds);
    return;
  }
  if (dt != DType::F32 && dt != DType::BF16)
    throw Error(std::string("upload: cannot convert ") + dtype_name(src.dtype) + " to " + dtype_name(dt));
  if (src.dtype == DType::F32 && dt == DType::BF16) {  // the common conversion, without the f32 detour
    const float* f = reinterpret_cast<const float*>(in);
    uint16_t* o = static_cast<uint16_t*>(out);
    for (int64_t i = 0; i < count; ++i) o[i] = f32_to_bf16(f[i]);
    return;
  }
  // Other float dtypes through to_f32 (the same conversion the CPU reference reads them with).
  constexpr int64_t kStep = 16384;
  std::vector<float> tmp(size_t(std::min(count, kStep)));
  for (int64_t i = 0; i < count; i += kStep) {
    const int64_t n = std::min(kStep, count - i);
    Tensor v = Tensor::view(const_cast<uint8_t*>(in) + size_t(i) * ss, src.dtype, {n});
    to_f32(v, tmp.data());
    if (dt == DType::F32) {
      std::memcpy(static_cast<float*>(out) + i, tmp.data(), size_t(n) * 4);
    } else {
      uint16_t* o = static_cast<uint16_t*>(out) + i;
      for (int64_t j = 0; j < n; ++j) o[j] = f32_to_bf16(tmp[size_t(j)]);
    }
  }
}

// ---------------------------------------------------------------- PinnedBuffer
// Page-locked by faulting the pages in from up to 16 threads and then cudaHostRegister: measured
// 8 GiB in 0.73 s on the H100 host, against 4.5 s for cudaHostAlloc, which faults and zeroes every
// page on the calling thread (bench/results/2026-11-26-h100-memory-coldstart.md).
PinnedBuffer::PinnedBuffer(size_t bytes) : bytes_(bytes) {
  if (!bytes) return;
  const size_t page = 4096, n = (bytes + page - 1) / page * page;
  ptr_ = static_cast<uint8_t*>(std::aligned_alloc(page, n));
  if (!ptr_) throw Error("out of host memory allocating " + std::to_string(bytes) + " bytes");
#ifdef TW_CUDA
  const size_t parts = std::max<size_t>(1, std::min<size_t>(16, n >> 24)), step = (n / parts + page - 1) / page * page;
  parallel_for(parts, [&](size_t k) {
    if (k * step < n) std::memset(ptr_ + k * step, 0, std::min(step, n - k * step));
  });
  const cudaError_t e = cudaHostRegister(ptr_, n, cudaHostRegisterDefault);
  if (e != cudaSuccess) {
    std::free(ptr_);
    ptr_ = nullptr;
    tw::cuda::throw_cuda_error("cudaHostRegister", e, __FILE__, __LINE__);
  }
#endif
}
PinnedBuffer::~PinnedBuffer() {
  if (!ptr_) return;
#ifdef TW_CUDA
  cudaHostUnregister(ptr_);
#endif
  std::free(ptr_);
}
PinnedBuffer::PinnedBuffer(PinnedBuffer&& o) noexcept : ptr_(std::exchange(o.ptr_, nullptr)), bytes_(std::exchange(o.bytes_, 0)) {}
PinnedBuffer& PinnedBuffer::operator=(PinnedBuffer&& o) noexcept {
  if (this != &o) {
    PinnedBuffer tmp(std::move(*this));
    ptr_ = std::exchange(o.ptr_, nullptr);
    bytes_ = std::exchange(o.bytes_, 0);
  }
  return *this;
}

// ---------------------------------------------------------------- StagedUploader
struct StagedUploader::Gpu {
#ifdef TW_CUDA
  cudaStream_t copy = nullptr;
  std::vector<PinnedBuffer> stage;
  std::vector<cudaEvent_t> done;  // last copy out of stage[k]
  int next = 0;
  ~Gpu() {
    if (copy) cudaStreamSynchronize(copy);
    for (cudaEvent_t e : done) cudaEventDestroy(e);
    if (copy) cudaStreamDestroy(copy);
  }
#endif
};

StagedUploader::StagedUploader() : StagedUploader(Options{}) {}

StagedUploader::StagedUploader(const Options& o) : opts_(o), gpu_(std::make_unique<Gpu>()) {
  const char* env = std::getenv("TW_UPLOAD");
  if (env && std::string(env) == "sync") opts_.synchronous = true;
  opts_.chunk_bytes = std::max(align_up(opts_.chunk_bytes), size_t(1) << 20);
  opts_.buffers = std::max(opts_.buffers, 1);
#ifdef TW_CUDA
  if (!opts_.synchronous) {
    // Non-blocking: the copies must not serialize with work on the legacy default stream.
    TW_CUDA_CHECK(cudaStreamCreateWithFlags(&gpu_->copy, cudaStreamNonBlocking));
    for (int k = 0; k < opts_.buffers; ++k) {
      gpu_->stage.emplace_back(opts_.chunk_bytes);
      cudaEvent_t e;
      TW_CUDA_CHECK(cudaEventCreateWithFlags(&e, cudaEventDisableTiming));
      gpu_->done.push_back(e);
    }
  }
#endif
}

StagedUploader::~StagedUploader() = default;

void StagedUploader::add(const Tensor& src, DType dt, void* dev, void* host, std::shared_ptr<const void> keep) {
  check(src.device == Device::CPU && src.contiguous(), "upload", "the source must be a contiguous host tensor, got " + src.shape_str());
  if (!dev && !host) return;
  const size_t es = dtype_size(dt);
  const int64_t n = src.numel();
  stats_.bytes += size_t(n) * es;
  if (opts_.synchronous) {  // the old path: convert on this thread, pageable synchronous copies
    auto t0 = Clock::now();
    if (host) convert_range(src, 0, n, dt, host);
#ifdef TW_CUDA
    if (dev) {
      if (host) {
        TW_CUDA_CHECK(cudaMemcpy(dev, host, size_t(n) * es, cudaMemcpyHostToDevice));
      } else if (src.dtype == dt) {
        TW_CUDA_CHECK(cudaMemcpy(dev, src.data, size_t(n) * es, cudaMemcpyHostToDevice));
      } else {
        std::vector<uint8_t> tmp(size_t(n) * es);
        convert_range(src, 0, n, dt, tmp.data());
        TW_CUDA_CHECK(cudaMemcpy(dev, tmp.data(), tmp.size(), cudaMemcpyHostToDevice));
      }
    }
#else
    if (dev) throw Error("upload: this build has no CUDA backend");
#endif
    stats_.convert_ms += ms_since(t0);
    return;
  }
#ifndef TW_CUDA
  if (dev) throw Error("upload: this build has no CUDA backend");
#endif
  const int64_t max_elems = int64_t(opts_.chunk_bytes / es);
  for (int64_t first = 0; first < n;) {
    const int64_t cnt = std::min(n - first, max_elems);
    const size_t bytes = size_t(cnt) * es;
    const bool staged = dev && !host;
    if (batch_bytes_ + bytes > opts_.chunk_bytes || (staged && staged_bytes_ + align_up(bytes) > opts_.chunk_bytes)) flush();
    uint8_t* d = dev ? static_cast<uint8_t*>(dev) + size_t(first) * es : nullptr;
    const bool in_arena = d && d >= arena_lo_ && d + bytes <= arena_hi_;
    Piece p{src, dt, first, cnt, d, host ? static_cast<uint8_t*>(host) + size_t(first) * es : nullptr,
            staged ? staged_bytes_ : 0, in_arena ? arena_id_ : -1, keep};
    if (staged) staged_bytes_ += align_up(bytes);
    batch_bytes_ += bytes;
    prefetch(static_cast<const uint8_t*>(src.data) + size_t(first) * dtype_size(src.dtype), size_t(cnt) * dtype_size(src.dtype));
    batch_.push_back(std::move(p));
    first += cnt;
  }
}

void StagedUploader::set_arena(const void* base, size_t bytes) {
  arena_lo_ = static_cast<const uint8_t*>(base);
  arena_hi_ = arena_lo_ + bytes;
  ++arena_id_;
}

void StagedUploader::flush() {
  if (batch_.empty()) return;
  uint8_t* stage = nullptr;
#ifdef TW_CUDA
  cudaEvent_t ev = nullptr;
  if (staged_bytes_ > 0) {
    const int k = gpu_->next;
    gpu_->next = (k + 1) % opts_.buffers;
    auto tw = Clock::now();
    TW_CUDA_CHECK(cudaEventSynchronize(gpu_->done[size_t(k)]));  // its previous copy has left
    stats_.wait_ms += ms_since(tw);
    stage = gpu_->stage[size_t(k)].get();
    ev = gpu_->done[size_t(k)];
  }
#endif
  // Convert: pieces split into ≤ 4 MiB tasks so every thread gets work.
  struct Task { const Piece* p; int64_t first, count; uint8_t* out; };
  std::vector<Task> tasks;
  for (const Piece& p : batch_) {
    const size_t es = dtype_size(p.dt);
    const int64_t step = std::max<int64_t>(1, int64_t((size_t(4) << 20) / es));
    uint8_t* base = p.host ? p.host : stage + p.stage_off;
    for (int64_t i = 0; i < p.count; i += step)
      tasks.push_back({&p, p.first + i, std::min(step, p.count - i), base + size_t(i) * es});
  }
  auto t0 = Clock::now();
  parallel_for(tasks.size(), [&](size_t i) { convert_range(tasks[i].p->src, tasks[i].first, tasks[i].count, tasks[i].p->dt, tasks[i].out); });
  stats_.convert_ms += ms_since(t0);
#ifdef TW_CUDA
  // Copy, merging pieces that are adjacent on both sides within one declared allocation (a DiT
  // block's tensors are packed with the same 256-byte alignment in the staging buffer and in its
  // slot: one DMA per batch).
  uint8_t *run_dev = nullptr, *run_src = nullptr;
  size_t run_len = 0;
  int run_arena = -1;
  auto issue = [&] {
    if (run_len) TW_CUDA_CHECK(cudaMemcpyAsync(run_dev, run_src, run_len, cudaMemcpyHostToDevice, gpu_->copy));
    run_len = 0;
  };
  for (const Piece& p : batch_) {
    if (!p.dev) continue;
    uint8_t* s = p.host ? p.host : stage + p.stage_off;
    const size_t len = size_t(p.count) * dtype_size(p.dt);
    if (run_len && p.arena >= 0 && p.arena == run_arena && p.dev >= run_dev + run_len &&
        p.dev - (run_dev + run_len) < ptrdiff_t(kAlign) && s - run_src == p.dev - run_dev) {
      run_len = size_t(p.dev - run_dev) + len;
    } else {
      issue();
      run_dev = p.dev, run_src = s, run_len = len, run_arena = p.arena;
    }
  }
  issue();
  if (ev) TW_CUDA_CHECK(cudaEventRecord(ev, gpu_->copy));
#endif
  batch_.clear();
  batch_bytes_ = staged_bytes_ = 0;
}

void StagedUploader::finish() {
  flush();
#ifdef TW_CUDA
  if (gpu_->copy) TW_CUDA_CHECK(cudaStreamSynchronize(gpu_->copy));
#endif
}

}  // namespace tw::engine

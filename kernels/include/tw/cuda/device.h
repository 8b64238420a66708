// CUDA backend plumbing shared by every .cu op: the stream ops run on, owning device buffers, and a
// grow-only scratch arena for op temporaries (ops never allocate their outputs; temporaries such as
// the SLA block map or the linear-branch features come from here).
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

#include "tw/cuda/check.h"
#include "tw/tensor.h"

namespace tw::cuda {

// The stream every op launches on. Default: the legacy default stream. The engine sets its own
// stream once (e.g. for CUDA-graph capture); ops are not safe to call from several threads at once.
cudaStream_t stream();
void set_stream(cudaStream_t s);

// Owning, move-only device allocation (cudaMalloc'd, 256-byte aligned).
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  explicit DeviceBuffer(size_t bytes) { if (bytes) TW_CUDA_CHECK(cudaMalloc(&ptr_, bytes)); bytes_ = bytes; }
  ~DeviceBuffer() { if (ptr_) cudaFree(ptr_); }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  DeviceBuffer(DeviceBuffer&& o) noexcept : ptr_(std::exchange(o.ptr_, nullptr)), bytes_(std::exchange(o.bytes_, 0)) {}
  DeviceBuffer& operator=(DeviceBuffer&& o) noexcept {
    if (this != &o) { if (ptr_) cudaFree(ptr_); ptr_ = std::exchange(o.ptr_, nullptr); bytes_ = std::exchange(o.bytes_, 0); }
    return *this;
  }
  void* get() const { return ptr_; }
  size_t bytes() const { return bytes_; }
  template <class T> T* as() const { return static_cast<T*>(ptr_); }
  // Contiguous CUDA tensor view over this buffer.
  Tensor view(DType dt, const std::vector<int64_t>& shape) const { return Tensor::view(ptr_, dt, shape, Device::CUDA); }
 private:
  void* ptr_ = nullptr;
  size_t bytes_ = 0;
};

// Grow-only scratch memory for op temporaries, one arena per slot (slot 0: op temporaries,
// slot 1: cuBLAS workspace). Contents are valid until the next call with the same slot.
void* scratch(size_t bytes, int slot = 0);

// Carves aligned sub-buffers out of one scratch allocation: first sum the sizes, then take them.
class ScratchPlan {
 public:
  size_t add(size_t bytes) { size_t off = total_; total_ += (bytes + 255) & ~size_t(255); return off; }
  size_t total() const { return total_; }
 private:
  size_t total_ = 0;
};

// Host ↔ device copies for tests, benches and weight upload (synchronous on stream()).
// upload_as converts f32 host values to `dt` (F32, BF16, F16, F8E4M3) before copying.
void upload_as(const float* host, int64_t n, DType dt, void* dev);
void download_as_f32(const void* dev, int64_t n, DType dt, float* host);
DeviceBuffer to_device(const std::vector<float>& host, DType dt);
std::vector<float> to_host_f32(const Tensor& t);
void synchronize();

// Argument checks shared by the CUDA ops (throw tw::Error naming op and argument).
void check_cuda_tensor(const Tensor& t, const char* op, const char* name);
void check_float_dtype(const Tensor& t, const char* op, const char* name);  // F32|BF16|F16

// Thrown by ops (or variants) that have no CUDA implementation yet.
[[noreturn]] void not_implemented(const char* op, const char* what = nullptr);

}  // namespace tw::cuda

// CUDA backend plumbing: stream, scratch arenas, host↔device copies, cuBLAS handles, arg checks.
#include <mutex>
#include <string>

#include "tw/cuda/cublas.h"
#include "tw/cuda/device.h"

namespace tw::cuda {

namespace {
cudaStream_t g_stream = nullptr;
DeviceBuffer g_scratch[2];
}  // namespace

cudaStream_t stream() { return g_stream; }
void set_stream(cudaStream_t s) { g_stream = s; }

void* scratch(size_t bytes, int slot) {
  if (slot < 0 || slot > 1) throw Error("tw::cuda::scratch: slot must be 0 or 1");
  DeviceBuffer& b = g_scratch[slot];
  if (b.bytes() < bytes) {
    // Work queued on the stream may still read the old arena.
    TW_CUDA_CHECK(cudaStreamSynchronize(g_stream));
    b = DeviceBuffer();
    b = DeviceBuffer(bytes + bytes / 8);
  }
  return b.get();
}

void synchronize() { TW_CUDA_CHECK(cudaStreamSynchronize(g_stream)); }

void upload_as(const float* host, int64_t n, DType dt, void* dev) {
  std::vector<uint8_t> tmp(size_t(n) * dtype_size(dt));
  for (int64_t i = 0; i < n; ++i) {
    switch (dt) {
      case DType::F32: reinterpret_cast<float*>(tmp.data())[i] = host[i]; break;
      case DType::BF16: reinterpret_cast<uint16_t*>(tmp.data())[i] = f32_to_bf16(host[i]); break;
      case DType::F16: reinterpret_cast<uint16_t*>(tmp.data())[i] = f32_to_f16(host[i]); break;
      case DType::F8E4M3: tmp[i] = f32_to_e4m3(host[i]); break;
      default: throw Error(std::string("upload_as: unsupported dtype ") + dtype_name(dt));
    }
  }
  TW_CUDA_CHECK(cudaMemcpyAsync(dev, tmp.data(), tmp.size(), cudaMemcpyHostToDevice, g_stream));
  TW_CUDA_CHECK(cudaStreamSynchronize(g_stream));
}

void download_as_f32(const void* dev, int64_t n, DType dt, float* host) {
  std::vector<uint8_t> tmp(size_t(n) * dtype_size(dt));
  TW_CUDA_CHECK(cudaMemcpyAsync(tmp.data(), dev, tmp.size(), cudaMemcpyDeviceToHost, g_stream));
  TW_CUDA_CHECK(cudaStreamSynchronize(g_stream));
  for (int64_t i = 0; i < n; ++i) {
    switch (dt) {
      case DType::F32: host[i] = reinterpret_cast<const float*>(tmp.data())[i]; break;
      case DType::BF16: host[i] = bf16_to_f32(reinterpret_cast<const uint16_t*>(tmp.data())[i]); break;
      case DType::F16: host[i] = f16_to_f32(reinterpret_cast<const uint16_t*>(tmp.data())[i]); break;
      case DType::F8E4M3: host[i] = e4m3_to_f32(tmp[i]); break;
      case DType::I8: host[i] = float(reinterpret_cast<const int8_t*>(tmp.data())[i]); break;
      case DType::I32: host[i] = float(reinterpret_cast<const int32_t*>(tmp.data())[i]); break;
      default: throw Error(std::string("download_as_f32: unsupported dtype ") + dtype_name(dt));
    }
  }
}

DeviceBuffer to_device(const std::vector<float>& host, DType dt) {
  DeviceBuffer b(host.size() * dtype_size(dt));
  upload_as(host.data(), int64_t(host.size()), dt, b.get());
  return b;
}

std::vector<float> to_host_f32(const Tensor& t) {
  std::vector<float> v(size_t(t.numel()));
  download_as_f32(t.data, t.numel(), t.dtype, v.data());
  return v;
}

void check_cuda_tensor(const Tensor& t, const char* op, const char* name) {
  check(!t.empty(), op, std::string(name) + " is missing");
  check(t.device == Device::CUDA, op, std::string(name) + " must be on the CUDA device");
  check(t.contiguous(), op, std::string(name) + " must be contiguous on CUDA, got shape " + t.shape_str());
}

void check_float_dtype(const Tensor& t, const char* op, const char* name) {
  check(t.dtype == DType::F32 || t.dtype == DType::BF16 || t.dtype == DType::F16, op,
        std::string(name) + " must be float32, bfloat16 or float16, got " + dtype_name(t.dtype));
}

void not_implemented(const char* op, const char* what) {
  throw Error(std::string("op ") + op + ": not implemented on CUDA yet" + (what ? std::string(" (") + what + ")" : ""));
}

cublasHandle_t cublas_handle() {
  static cublasHandle_t h = [] {
    cublasHandle_t x;
    TW_CUBLAS_CHECK(cublasCreate(&x));
    return x;
  }();
  TW_CUBLAS_CHECK(cublasSetStream(h, g_stream));
  TW_CUBLAS_CHECK(cublasSetWorkspace(h, scratch(kCublasWorkspaceBytes, 1), kCublasWorkspaceBytes));
  return h;
}

cublasLtHandle_t cublaslt_handle() {
  static cublasLtHandle_t h = [] {
    cublasLtHandle_t x;
    TW_CUBLAS_CHECK(cublasLtCreate(&x));
    return x;
  }();
  return h;
}

}  // namespace tw::cuda

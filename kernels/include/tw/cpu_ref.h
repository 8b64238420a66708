// Helpers shared by the op entry points (device dispatch, argument checks) and by the CPU reference
// implementations (element loaders, deterministic dot products). Not part of the op API.
#pragma once

#include <cmath>
#include <cstdint>
#include <initializer_list>
#include <string>

#include "tw/ops_cuda.h"
#include "tw/tensor.h"

namespace tw::ops::detail {

struct Arg {
  const char* name;
  const Tensor* t;
};

// The device every non-empty tensor of an op lives on; mixing CPU and CUDA tensors is an error.
inline Device op_device(const char* op, std::initializer_list<Arg> args) {
  const Arg* first = nullptr;
  for (const Arg& a : args) {
    if (a.t->empty()) continue;
    if (!first) { first = &a; continue; }
    if (a.t->device != first->t->device)
      throw Error(std::string(op) + ": " + a.name + " is on " + (a.t->device == Device::CUDA ? "CUDA" : "CPU") +
                  " but " + first->name + " is on " + (first->t->device == Device::CUDA ? "CUDA" : "CPU") +
                  "; all tensors of one op must live on the same device");
  }
  return first ? first->t->device : Device::CPU;
}

[[noreturn]] inline void no_cuda_backend(const char* op) {
  throw Error(std::string("op ") + op + ": this build has no CUDA backend (rebuild with -DTW_CUDA=ON)");
}

inline void check_contiguous(const Tensor& t, const char* op, const char* name) {
  if (!t.contiguous()) throw Error(std::string(op) + ": " + name + " " + t.shape_str() + " must be contiguous");
}

inline bool is_float_weight_dtype(DType dt) { return dt == DType::F32 || dt == DType::BF16 || dt == DType::F16; }

inline void check_float_weight(const Tensor& t, const char* op, const char* name) {
  if (!is_float_weight_dtype(t.dtype))
    throw Error(std::string(op) + ": " + name + " is " + dtype_name(t.dtype) + ", expected float32, bfloat16 or float16");
  check_contiguous(t, op, name);
}

inline void check_f32_contiguous(const Tensor& t, const char* op, const char* name) {
  check_dtype(t, DType::F32, op, name);
  check_contiguous(t, op, name);
}

inline void check_not_empty(const Tensor& t, const char* op, const char* name) {
  if (t.empty()) throw Error(std::string(op) + ": " + name + " is required (got an empty tensor)");
}

}  // namespace tw::ops::detail

// Routes an op to tw::cuda::<fn> when its tensors are on the GPU (TW_CUDA builds), or throws.
#ifdef TW_CUDA
#define TW_DISPATCH_CUDA(dev, op, fn, p)            \
  if ((dev) == ::tw::Device::CUDA) {                \
    ::tw::cuda::fn(p);                              \
    return;                                         \
  }
#else
#define TW_DISPATCH_CUDA(dev, op, fn, p) \
  if ((dev) == ::tw::Device::CUDA) ::tw::ops::detail::no_cuda_backend(op);
#endif

namespace tw::ref {

// Σ a[i]·b[i] in fp32 over 8 interleaved partial sums (vectorizes without reassociation flags),
// combined in a fixed order: the result depends only on the inputs, never on threads.
inline float dot8(const float* a, const float* b, int64_t n) {
  float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int l = 0; l < 8; ++l) acc[l] += a[i + l] * b[i + l];
  const int64_t rem = n - i;  // < 8
  for (int64_t l = 0; l < rem; ++l) acc[l] += a[i + l] * b[i + l];
  return ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
}

// Σ a[i]·b[i] in double (products of floats are exact in double), 4 partial sums.
inline double dot_d(const float* a, const float* b, int64_t n) {
  double acc[4] = {0, 0, 0, 0};
  int64_t i = 0;
  for (; i + 4 <= n; i += 4)
    for (int l = 0; l < 4; ++l) acc[l] += double(a[i + l]) * double(b[i + l]);
  const int64_t rem = n - i;  // < 4
  for (int64_t l = 0; l < rem; ++l) acc[l] += double(a[i + l]) * double(b[i + l]);
  return (acc[0] + acc[2]) + (acc[1] + acc[3]);
}

// Reads n elements from flat element `offset` of a contiguous F32/BF16/F16 tensor as f32.
inline void load_f32(const Tensor& t, int64_t offset, int64_t n, float* dst) {
  switch (t.dtype) {
    case DType::F32: {
      const float* s = t.ptr<float>() + offset;
      for (int64_t i = 0; i < n; ++i) dst[i] = s[i];
      return;
    }
    case DType::BF16: {
      const uint16_t* s = t.ptr<uint16_t>() + offset;
      for (int64_t i = 0; i < n; ++i) dst[i] = bf16_to_f32(s[i]);
      return;
    }
    case DType::F16: {
      const uint16_t* s = t.ptr<uint16_t>() + offset;
      for (int64_t i = 0; i < n; ++i) dst[i] = f16_to_f32(s[i]);
      return;
    }
    default:
      for (int64_t i = 0; i < n; ++i) dst[i] = load_as_f32(t, offset + i);
  }
}

// Saturating round-half-even float → int8, as cvt.rni.sat.s8.f32 (NaN → 0).
inline int8_t sat_rne_s8(float v) {
  if (std::isnan(v)) return 0;
  float r = std::nearbyint(v);  // default rounding mode: to nearest, ties to even
  if (r > 127.f) return 127;
  if (r < -128.f) return -128;
  return int8_t(r);
}

}  // namespace tw::ref

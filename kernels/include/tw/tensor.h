// Tensor views and dtype helpers shared by every op and by the engine.
// A Tensor is a non-owning view (pointer + dtype + shape + element strides); ownership lives in
// HostBuffer (CPU) or the CUDA backend's allocator. Ops never allocate their outputs.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace tw {

enum class DType : uint8_t { F32, F16, BF16, F64, I8, U8, I16, I32, I64, Bool, F8E4M3 };
enum class Device : uint8_t { CPU, CUDA };

size_t dtype_size(DType dt);
const char* dtype_name(DType dt);

// Thrown by ops and loaders; the message names what to fix. The N-API layer maps it to a JS error.
struct Error : std::runtime_error {
  explicit Error(const std::string& what) : std::runtime_error(what) {}
};

constexpr int kMaxDims = 6;

struct Tensor {
  void* data = nullptr;
  DType dtype = DType::F32;
  Device device = Device::CPU;
  int ndim = 0;
  int64_t shape[kMaxDims] = {};
  int64_t stride[kMaxDims] = {};  // in elements

  int64_t numel() const;
  int64_t size(int d) const { return shape[d < 0 ? d + ndim : d]; }
  bool contiguous() const;
  bool empty() const { return data == nullptr; }
  std::string shape_str() const;  // "[12, 64]"
  template <class T> T* ptr() const { return static_cast<T*>(data); }

  // Contiguous view over existing memory.
  static Tensor view(void* data, DType dt, std::initializer_list<int64_t> shape, Device dev = Device::CPU);
  static Tensor view(void* data, DType dt, const std::vector<int64_t>& shape, Device dev = Device::CPU);
  // Same memory, new contiguous shape with the same element count.
  Tensor reshape(std::initializer_list<int64_t> shape) const;
  Tensor reshape(const std::vector<int64_t>& shape) const;
  // Rows [begin, end) along dim 0 (no copy).
  Tensor slice0(int64_t begin, int64_t end) const;
  std::vector<int64_t> shape_vec() const { return std::vector<int64_t>(shape, shape + ndim); }
};

// Owning, 64-byte aligned host memory with a tensor view over it.
class HostTensor {
 public:
  HostTensor() = default;
  static HostTensor empty(DType dt, const std::vector<int64_t>& shape);
  static HostTensor zeros(DType dt, const std::vector<int64_t>& shape);
  const Tensor& t() const { return view_; }
  Tensor& t() { return view_; }
  float* f32() const { return view_.ptr<float>(); }
  int64_t numel() const { return view_.numel(); }
 private:
  std::shared_ptr<void> storage_;
  Tensor view_;
};

// ---- scalar conversions (round-to-nearest-even, as PyTorch and the CUDA cvt.rn instructions do) ----
inline float bf16_to_f32(uint16_t h) {
  uint32_t u = uint32_t(h) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
inline uint16_t f32_to_bf16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  if ((u & 0x7f800000u) == 0x7f800000u && (u & 0x007fffffu)) return uint16_t((u >> 16) | 0x40);  // quiet NaN
  uint32_t rounding = 0x7fffu + ((u >> 16) & 1u);
  return uint16_t((u + rounding) >> 16);
}
inline float round_bf16(float f) { return bf16_to_f32(f32_to_bf16(f)); }
float f16_to_f32(uint16_t h);
uint16_t f32_to_f16(float f);
// OCP fp8 e4m3 (max 448, no infinities), saturating like cvt.rn.satfinite.e4m3x2.f32.
uint8_t f32_to_e4m3(float f);
float e4m3_to_f32(uint8_t v);
inline float round_e4m3(float f) { return e4m3_to_f32(f32_to_e4m3(f)); }

// Reads element i (flat, contiguous tensors only) of any float dtype as f32.
float load_as_f32(const Tensor& t, int64_t i);
// Copies/converts a whole float tensor (any float dtype, contiguous) into an f32 buffer.
void to_f32(const Tensor& src, float* dst);

// Argument checks used by every op; failures throw tw::Error naming the op and the argument.
void check(bool cond, const char* op, const std::string& msg);
void check_shape(const Tensor& t, std::initializer_list<int64_t> shape, const char* op, const char* name);
void check_dtype(const Tensor& t, DType dt, const char* op, const char* name);

}  // namespace tw

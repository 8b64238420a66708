#include "tw/tensor.h"

#include <cmath>
#include <cstdlib>
#include <sstream>

namespace tw {

size_t dtype_size(DType dt) {
  switch (dt) {
    case DType::F64: case DType::I64: return 8;
    case DType::F32: case DType::I32: return 4;
    case DType::F16: case DType::BF16: case DType::I16: return 2;
    case DType::I8: case DType::U8: case DType::Bool: case DType::F8E4M3: return 1;
  }
  return 0;
}

const char* dtype_name(DType dt) {
  switch (dt) {
    case DType::F32: return "float32";
    case DType::F16: return "float16";
    case DType::BF16: return "bfloat16";
    case DType::F64: return "float64";
    case DType::I8: return "int8";
    case DType::U8: return "uint8";
    case DType::I16: return "int16";
    case DType::I32: return "int32";
    case DType::I64: return "int64";
    case DType::Bool: return "bool";
    case DType::F8E4M3: return "float8_e4m3fn";
  }
  return "?";
}

int64_t Tensor::numel() const {
  int64_t n = 1;
  for (int i = 0; i < ndim; ++i) n *= shape[i];
  return n;
}

bool Tensor::contiguous() const {
  int64_t expect = 1;
  for (int i = ndim - 1; i >= 0; --i) {
    if (shape[i] != 1 && stride[i] != expect) return false;
    expect *= shape[i];
  }
  return true;
}

std::string Tensor::shape_str() const {
  std::ostringstream s;
  s << '[';
  for (int i = 0; i < ndim; ++i) s << (i ? ", " : "") << shape[i];
  s << ']';
  return s.str();
}

Tensor Tensor::view(void* data, DType dt, const std::vector<int64_t>& shape, Device dev) {
  if (shape.size() > kMaxDims) throw Error("tensor rank " + std::to_string(shape.size()) + " exceeds 6");
  Tensor t;
  t.data = data;
  t.dtype = dt;
  t.device = dev;
  t.ndim = int(shape.size());
  int64_t s = 1;
  for (int i = t.ndim - 1; i >= 0; --i) {
    t.shape[i] = shape[i];
    t.stride[i] = s;
    s *= shape[i];
  }
  return t;
}

Tensor Tensor::view(void* data, DType dt, std::initializer_list<int64_t> shape, Device dev) {
  return view(data, dt, std::vector<int64_t>(shape), dev);
}

Tensor Tensor::reshape(const std::vector<int64_t>& new_shape) const {
  if (!contiguous()) throw Error("reshape of a non-contiguous tensor " + shape_str());
  Tensor t = view(data, dtype, new_shape, device);
  if (t.numel() != numel()) throw Error("reshape " + shape_str() + " -> " + t.shape_str() + " changes the element count");
  return t;
}

Tensor Tensor::reshape(std::initializer_list<int64_t> s) const { return reshape(std::vector<int64_t>(s)); }

Tensor Tensor::slice0(int64_t begin, int64_t end) const {
  if (ndim < 1 || begin < 0 || end > shape[0] || begin > end) throw Error("slice0 out of range on " + shape_str());
  Tensor t = *this;
  t.data = static_cast<char*>(data) + begin * stride[0] * int64_t(dtype_size(dtype));
  t.shape[0] = end - begin;
  return t;
}

HostTensor HostTensor::empty(DType dt, const std::vector<int64_t>& shape) {
  HostTensor h;
  int64_t n = 1;
  for (auto s : shape) n *= s;
  size_t bytes = size_t(n) * dtype_size(dt);
  size_t padded = (bytes + 63) / 64 * 64;
  void* p = std::aligned_alloc(64, padded ? padded : 64);
  if (!p) throw Error("out of host memory allocating " + std::to_string(bytes) + " bytes");
  h.storage_ = std::shared_ptr<void>(p, std::free);
  h.view_ = Tensor::view(p, dt, shape);
  return h;
}

HostTensor HostTensor::zeros(DType dt, const std::vector<int64_t>& shape) {
  HostTensor h = empty(dt, shape);
  std::memset(h.view_.data, 0, size_t(h.numel()) * dtype_size(dt));
  return h;
}

float f16_to_f32(uint16_t h) {
  uint32_t sign = uint32_t(h & 0x8000) << 16, exp = (h >> 10) & 0x1f, mant = h & 0x3ff, u;
  if (exp == 0) {
    if (mant == 0) {
      u = sign;
    } else {  // subnormal
      float f = std::ldexp(float(mant), -24);
      return sign ? -f : f;
    }
  } else if (exp == 31) {
    u = sign | 0x7f800000u | (mant << 13);
  } else {
    u = sign | ((exp + 112) << 23) | (mant << 13);
  }
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

uint16_t f32_to_f16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  uint16_t sign = uint16_t((u >> 16) & 0x8000);
  float a = std::fabs(f);
  if (std::isnan(f)) return sign | 0x7e00;
  if (a >= 65520.f) return sign | 0x7c00;
  if (a < 6.103515625e-05f) {  // subnormal range: multiples of 2^-24, RNE via nearbyint
    return sign | uint16_t(std::nearbyint(a * 16777216.f));
  }
  uint32_t ua = u & 0x7fffffffu;
  uint32_t exp = (ua >> 23) - 112, mant = ua & 0x7fffff;
  uint32_t h = (exp << 10) | (mant >> 13);
  uint32_t rest = mant & 0x1fff;
  if (rest > 0x1000 || (rest == 0x1000 && (h & 1))) ++h;
  return sign | uint16_t(h);
}

uint8_t f32_to_e4m3(float f) {
  if (std::isnan(f)) return 0x7f;
  uint8_t sign = std::signbit(f) ? 0x80 : 0;
  float a = std::fabs(f);
  if (a >= 448.f) return sign | 0x7e;  // satfinite
  // e4m3: bias 7, 3 mantissa bits, min normal 2^-6, subnormal step 2^-9.
  if (a < 0.015625f) {
    int q = int(std::nearbyint(a * 512.f));  // RNE (default rounding mode)
    return sign | uint8_t(q);                // q == 8 becomes the min normal 0x08, which is right
  }
  int e;
  float m = std::frexp(a, &e);  // a = m·2^e, m in [0.5,1)
  // normalized mantissa with 3 bits: value = (1 + k/8)·2^(e-1)
  float scaled = std::ldexp(a, 4 - e);  // in [8,16)
  int q = int(std::nearbyint(scaled));
  int exp_field = e - 1 + 7;
  if (q == 16) { q = 8; ++exp_field; }
  (void)m;
  if (exp_field > 15 || (exp_field == 15 && (q - 8) == 7)) return sign | 0x7e;
  return sign | uint8_t(exp_field << 3) | uint8_t(q - 8);
}

float e4m3_to_f32(uint8_t v) {
  int sign = v & 0x80, exp = (v >> 3) & 0xf, mant = v & 7;
  float r;
  if (exp == 15 && mant == 7) return std::nanf("");
  if (exp == 0) r = std::ldexp(float(mant), -9);
  else r = std::ldexp(1.f + mant / 8.f, exp - 7);
  return sign ? -r : r;
}

float load_as_f32(const Tensor& t, int64_t i) {
  switch (t.dtype) {
    case DType::F32: return t.ptr<float>()[i];
    case DType::BF16: return bf16_to_f32(t.ptr<uint16_t>()[i]);
    case DType::F16: return f16_to_f32(t.ptr<uint16_t>()[i]);
    case DType::F64: return float(t.ptr<double>()[i]);
    case DType::F8E4M3: return e4m3_to_f32(t.ptr<uint8_t>()[i]);
    case DType::I8: return float(t.ptr<int8_t>()[i]);
    default: throw Error(std::string("expected a floating tensor, got ") + dtype_name(t.dtype));
  }
}

void to_f32(const Tensor& src, float* dst) {
  if (!src.contiguous()) throw Error("to_f32 needs a contiguous tensor, got strides of " + src.shape_str());
  int64_t n = src.numel();
  if (src.dtype == DType::F32) { std::memcpy(dst, src.data, size_t(n) * 4); return; }
  for (int64_t i = 0; i < n; ++i) dst[i] = load_as_f32(src, i);
}

void check(bool cond, const char* op, const std::string& msg) {
  if (!cond) throw Error(std::string(op) + ": " + msg);
}

void check_shape(const Tensor& t, std::initializer_list<int64_t> shape, const char* op, const char* name) {
  bool ok = t.ndim == int(shape.size());
  int i = 0;
  for (auto s : shape) { if (ok && s >= 0 && t.shape[i] != s) ok = false; ++i; }
  if (!ok) {
    std::ostringstream e;
    e << op << ": " << name << " has shape " << t.shape_str() << ", expected [";
    i = 0;
    for (auto s : shape) e << (i++ ? ", " : "") << (s < 0 ? std::string("*") : std::to_string(s));
    e << ']';
    throw Error(e.str());
  }
}

void check_dtype(const Tensor& t, DType dt, const char* op, const char* name) {
  if (t.dtype != dt) throw Error(std::string(op) + ": " + name + " is " + dtype_name(t.dtype) + ", expected " + dtype_name(dt));
}

}  // namespace tw

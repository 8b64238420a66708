// JS ⇄ C++ conversions for the binding. Inputs are copied out of JS typed arrays before a worker
// is queued, so no JS memory is touched off the JS thread.
#pragma once

#include <napi.h>

#include <string>
#include <vector>

namespace tw::addon {

inline std::vector<int64_t> shape_arg(const Napi::Value& v, const char* name) {
  if (!v.IsArray()) throw Napi::TypeError::New(v.Env(), std::string(name) + " must be an array of integers");
  Napi::Array a = v.As<Napi::Array>();
  std::vector<int64_t> s;
  for (uint32_t i = 0; i < a.Length(); ++i) s.push_back(a.Get(i).As<Napi::Number>().Int64Value());
  return s;
}

inline std::vector<float> floats_arg(const Napi::Value& v, const char* name, int64_t expect_numel) {
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array)
    throw Napi::TypeError::New(v.Env(), std::string(name) + " must be a Float32Array");
  Napi::Float32Array a = v.As<Napi::Float32Array>();
  if (expect_numel >= 0 && int64_t(a.ElementLength()) != expect_numel)
    throw Napi::RangeError::New(v.Env(), std::string(name) + " has " + std::to_string(a.ElementLength()) +
                                             " elements, its shape needs " + std::to_string(expect_numel));
  return std::vector<float>(a.Data(), a.Data() + a.ElementLength());
}

inline std::vector<std::string> strings_arg(const Napi::Value& v, const char* name) {
  std::vector<std::string> out;
  if (v.IsString()) {
    out.push_back(v.As<Napi::String>());
  } else if (v.IsArray()) {
    Napi::Array a = v.As<Napi::Array>();
    for (uint32_t i = 0; i < a.Length(); ++i) out.push_back(a.Get(i).As<Napi::String>());
  } else if (!v.IsUndefined() && !v.IsNull()) {
    throw Napi::TypeError::New(v.Env(), std::string(name) + " must be a path or an array of paths");
  }
  return out;
}

inline int64_t numel(const std::vector<int64_t>& s) {
  int64_t n = 1;
  for (auto d : s) n *= d;
  return n;
}

inline Napi::Float32Array to_js(Napi::Env env, const float* data, size_t n) {
  Napi::Float32Array a = Napi::Float32Array::New(env, n);
  std::copy(data, data + n, a.Data());
  return a;
}

template <class T>
T get_or(const Napi::Object& o, const char* key, T fallback);

template <>
inline double get_or<double>(const Napi::Object& o, const char* key, double fallback) {
  Napi::Value v = o.Get(key);
  return v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : fallback;
}
template <>
inline bool get_or<bool>(const Napi::Object& o, const char* key, bool fallback) {
  Napi::Value v = o.Get(key);
  return v.IsBoolean() ? v.As<Napi::Boolean>().Value() : fallback;
}
template <>
inline std::string get_or<std::string>(const Napi::Object& o, const char* key, std::string fallback) {
  Napi::Value v = o.Get(key);
  return v.IsString() ? std::string(v.As<Napi::String>()) : fallback;
}

}  // namespace tw::addon

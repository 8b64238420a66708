// Checks a loaded Checkpoint against test/fixtures/checkpoints/manifest.json, which torch wrote
// (scripts/golden/make_checkpoint_fixtures.py): dtype, shape, stride, sum and first values per key.
#pragma once

#include <cmath>
#include <set>
#include <string>

#include "loader/checkpoint.h"
#include "loader/json.h"
#include "loader_test_util.h"
#include "tw_test.h"

namespace twtest {

inline const char* kFixtureDir = "test/fixtures/checkpoints/";

inline const tw::loader::json::Value& manifest() {
  static tw::loader::json::Value m = [] {
    std::string text = read_bytes(std::string(kFixtureDir) + "manifest.json");
    return tw::loader::json::parse(text.data(), text.size(), "manifest.json");
  }();
  return m;
}

inline double element(const tw::loader::TensorInfo& t, int64_t i) {
  const uint8_t* p = static_cast<const uint8_t*>(t.data) + i * int64_t(tw::dtype_size(t.dtype));
  switch (t.dtype) {
    case tw::DType::F32: { float v; std::memcpy(&v, p, 4); return v; }
    case tw::DType::F64: { double v; std::memcpy(&v, p, 8); return v; }
    case tw::DType::F16: { uint16_t v; std::memcpy(&v, p, 2); return tw::f16_to_f32(v); }
    case tw::DType::BF16: { uint16_t v; std::memcpy(&v, p, 2); return tw::bf16_to_f32(v); }
    case tw::DType::F8E4M3: return tw::e4m3_to_f32(*p);
    case tw::DType::I8: return double(int8_t(*p));
    case tw::DType::U8: case tw::DType::Bool: return double(*p);
    case tw::DType::I16: { int16_t v; std::memcpy(&v, p, 2); return v; }
    case tw::DType::I32: { int32_t v; std::memcpy(&v, p, 4); return v; }
    case tw::DType::I64: { int64_t v; std::memcpy(&v, p, 8); return double(v); }
  }
  return NAN;
}

// Visits the view's elements in logical (row-major) order through its strides.
template <class Fn>
void for_each_element(const tw::loader::TensorInfo& t, Fn fn) {
  int64_t n = t.numel();
  std::vector<int64_t> idx(t.shape.size(), 0);
  for (int64_t k = 0; k < n; ++k) {
    int64_t off = 0;
    for (size_t d = 0; d < idx.size(); ++d) off += idx[d] * t.stride[d];
    fn(k, element(t, off));
    for (size_t d = idx.size(); d-- > 0;) {
      if (++idx[d] < t.shape[d]) break;
      idx[d] = 0;
    }
  }
}

inline std::vector<int64_t> ints(const tw::loader::json::Value& a) {
  std::vector<int64_t> v;
  for (const auto& x : a.array) v.push_back(x.integer);
  return v;
}

// Returns the number of keys checked.
inline size_t check_against_manifest(const tw::loader::Checkpoint& ck, const std::string& file, bool check_strides) {
  const auto* entry = manifest().find("files")->find(file);
  TW_CHECK_MSG(entry != nullptr, "manifest has no entry for %s", file.c_str());
  if (!entry) return 0;
  const auto& tensors = entry->find("tensors")->object;
  TW_CHECK_MSG(ck.size() == tensors.size(), "%s: loaded %zu tensors, torch saved %zu", file.c_str(), ck.size(), tensors.size());
  for (const auto& kv : tensors) {
    const std::string& key = kv.first;
    const auto& want = kv.second;
    if (!ck.has(key)) {
      TW_CHECK_MSG(false, "%s: key '%s' missing", file.c_str(), key.c_str());
      continue;
    }
    const tw::loader::TensorInfo& t = ck.info(key);
    TW_CHECK_MSG(want.find("dtype")->string == tw::dtype_name(t.dtype), "%s:%s dtype %s vs torch %s", file.c_str(),
                 key.c_str(), tw::dtype_name(t.dtype), want.find("dtype")->string.c_str());
    TW_CHECK_MSG(ints(*want.find("shape")) == t.shape, "%s:%s shape", file.c_str(), key.c_str());
    if (check_strides) TW_CHECK_MSG(ints(*want.find("stride")) == t.stride, "%s:%s stride", file.c_str(), key.c_str());
    TW_CHECK_MSG(want.find("contiguous")->boolean == t.contiguous(), "%s:%s contiguous", file.c_str(), key.c_str());
    const auto& first = want.find("first")->array;
    double sum = 0, abs_sum = 0;
    bool first_ok = true;
    for_each_element(t, [&](int64_t k, double v) {
      sum += v;
      abs_sum += std::fabs(v);
      if (size_t(k) < first.size() && first[size_t(k)].number != v) first_ok = false;
    });
    TW_CHECK_MSG(first_ok, "%s:%s first values differ from torch", file.c_str(), key.c_str());
    double want_sum = want.find("sum")->number;
    TW_CHECK_MSG(std::fabs(sum - want_sum) <= 1e-9 * (1 + abs_sum), "%s:%s sum %.17g vs torch %.17g", file.c_str(),
                 key.c_str(), sum, want_sum);
  }
  return tensors.size();
}

}  // namespace twtest

// The weights the int8 GPU umT5 encoder computes with, built on the CPU from the ops' references:
// every block linear rounded to bf16 (as the GPU upload holds it), quantized per row
// (quantize_int8_rows) and expanded back to bf16 (dequantize_int8_rows). Running the fp32 CPU
// UMT5Encoder on these isolates the int8 weight rounding from the GPU's bf16 activations.
#pragma once

#include <algorithm>
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "loader/checkpoint.h"
#include "tw/ops_quant.h"

namespace umt5test {

inline bool is_block_linear(const std::string& key) {
  static const char* kSuffixes[] = {"attn.q.weight", "attn.k.weight", "attn.v.weight", "attn.o.weight",
                                    "ffn.gate.0.weight", "ffn.fc1.weight", "ffn.fc2.weight"};
  if (key.rfind("blocks.", 0) != 0) return false;
  for (const char* s : kSuffixes) {
    const std::string suf = s;
    if (key.size() > suf.size() && key.compare(key.size() - suf.size(), suf.size(), suf) == 0) return true;
  }
  return false;
}

struct Int8Weights {
  std::shared_ptr<tw::loader::Checkpoint> source;  // keeps the mapped non-linear tensors alive
  std::vector<std::vector<uint16_t>> storage;       // the expanded bf16 linears
  std::shared_ptr<tw::loader::Checkpoint> ckpt;     // what UMT5Encoder::load takes
  double max_step_error = 0;                        // max |expanded − bf16 weight| / row scale (≤ 0.5 + 127/256)
};

// Wan key names expected (the fixture's); the result owns everything it points to.
inline std::unique_ptr<Int8Weights> int8_emulated(const std::string& path) {
  using namespace tw;
  auto r = std::make_unique<Int8Weights>();
  r->source = std::make_shared<loader::Checkpoint>(loader::Checkpoint::open(path));
  std::vector<loader::TensorInfo> infos;
  for (const std::string& name : r->source->names()) {
    loader::TensorInfo info = r->source->info(name);
    if (is_block_linear(name)) {
      const Tensor t = r->source->tensor(name);
      const int64_t N = t.size(0), K = t.size(1);
      std::vector<float> w(size_t(N * K));
      to_f32(t, w.data());
#pragma omp parallel for schedule(static)
      for (int64_t i = 0; i < N * K; ++i) w[size_t(i)] = round_bf16(w[size_t(i)]);
      std::vector<int8_t> q(size_t(N * K));
      std::vector<float> s(static_cast<size_t>(N));
      ops::quantize_int8_rows({Tensor::view(w.data(), DType::F32, {N, K}), Tensor::view(q.data(), DType::I8, {N, K}),
                               Tensor::view(s.data(), DType::F32, {N})});
      std::vector<uint16_t> e(size_t(N * K));
      ops::dequantize_int8_rows({Tensor::view(q.data(), DType::I8, {N, K}), Tensor::view(s.data(), DType::F32, {N}),
                                 Tensor::view(e.data(), DType::BF16, {N, K})});
      double worst = 0;
#pragma omp parallel for schedule(static) reduction(max : worst)
      for (int64_t n = 0; n < N; ++n)
        for (int64_t k = 0; k < K && s[size_t(n)] > 0; ++k)
          worst = std::max(worst, std::fabs(double(bf16_to_f32(e[size_t(n * K + k)])) - w[size_t(n * K + k)]) / s[size_t(n)]);
      r->max_step_error = std::max(r->max_step_error, worst);
      r->storage.push_back(std::move(e));
      info.dtype = DType::BF16;
      info.stride.clear();
      info.data = r->storage.back().data();
    }
    infos.push_back(std::move(info));
  }
  r->ckpt = std::make_shared<loader::Checkpoint>(loader::Checkpoint::from_tensors(std::move(infos)));
  return r;
}

}  // namespace umt5test

// umT5 encoder forward on the GPU (wan/modules/t5.py T5Encoder semantics in bf16, as the reference runs it).
#include "models/umt5_cuda.h"

#ifdef TW_CUDA
#include <algorithm>
#include <cstring>

#include "core/staged_upload.h"
#include "tw/cuda/device.h"
#include "tw/ops.h"
#include "tw/ops_extra.h"
#include "tw/ops_quant.h"
#endif

namespace tw::engine {

UMT5Weights parse_umt5_weights(const std::string& s) {
  if (s == "bf16") return UMT5Weights::BF16;
  if (s == "int8") return UMT5Weights::Int8;
  throw Error("text encoder weights must be bf16 or int8, got '" + s + "'");
}

const char* umt5_weights_name(UMT5Weights w) { return w == UMT5Weights::Int8 ? "int8" : "bf16"; }

#ifndef TW_CUDA

struct UMT5EncoderCuda::Impl {};
UMT5EncoderCuda::UMT5EncoderCuda(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
UMT5EncoderCuda::~UMT5EncoderCuda() = default;
std::unique_ptr<UMT5EncoderCuda> UMT5EncoderCuda::load(std::shared_ptr<loader::Checkpoint>, UMT5Weights) {
  throw Error("this build of turbowan has no CUDA backend: rebuild with TURBOWAN_CUDA=ON (needs nvcc and cuBLAS)");
}
std::unique_ptr<UMT5EncoderCuda> UMT5EncoderCuda::load(const std::string&, UMT5Weights) {
  throw Error("this build of turbowan has no CUDA backend: rebuild with TURBOWAN_CUDA=ON (needs nvcc and cuBLAS)");
}
UMT5Weights UMT5EncoderCuda::default_weights() { return UMT5Weights::BF16; }
const UMT5Config& UMT5EncoderCuda::config() const { throw Error("no CUDA backend"); }
UMT5Weights UMT5EncoderCuda::weights() const { throw Error("no CUDA backend"); }
HostTensor UMT5EncoderCuda::encode(const std::vector<int32_t>&, const std::vector<int32_t>&) const { throw Error("no CUDA backend"); }
size_t UMT5EncoderCuda::weight_bytes() const { return 0; }

#else

using cuda::DeviceBuffer;

namespace {

// A linear weight [rows, cols]: bf16, or int8 with one fp32 scale per row (output channel).
struct DevLinear {
  DeviceBuffer w, scale;
  int64_t rows = 0, cols = 0;
};

struct DevBlock {
  DeviceBuffer norm1, norm2;                      // bf16
  DevLinear q, k, v, o, gate, fc1, fc2;
  std::vector<float> pos;                         // [num_buckets, heads] host f32
};

}  // namespace

struct UMT5EncoderCuda::Impl {
  UMT5Config cfg;
  UMT5Weights weights = UMT5Weights::BF16;
  std::shared_ptr<loader::Checkpoint> ckpt;  // owns the mapped token embedding
  Tensor token_embedding;                    // [vocab, dim], host
  std::vector<DevBlock> blocks;
  DeviceBuffer norm;
  // Int8: the bf16 expansion of the current linear's weight (the largest linear's size, 84 MB for
  // umT5-XXL). One buffer serves every GEMM: ops run in order on one stream, so expanding the next
  // weight cannot start before the previous GEMM has read it. Also the staging buffer of the upload.
  DeviceBuffer expanded;
  size_t bytes = 0;

  // The bf16 weight to hand to ops::linear (int8: expanded into `expanded` first).
  Tensor weight(const DevLinear& l) const {
    if (weights == UMT5Weights::BF16) return l.w.view(DType::BF16, {l.rows, l.cols});
    const Tensor e = expanded.view(DType::BF16, {l.rows, l.cols});
    ops::dequantize_int8_rows({l.w.view(DType::I8, {l.rows, l.cols}), l.scale.view(DType::F32, {l.rows}), e});
    return e;
  }
};

UMT5EncoderCuda::UMT5EncoderCuda(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
UMT5EncoderCuda::~UMT5EncoderCuda() = default;
const UMT5Config& UMT5EncoderCuda::config() const { return impl_->cfg; }
UMT5Weights UMT5EncoderCuda::weights() const { return impl_->weights; }
size_t UMT5EncoderCuda::weight_bytes() const { return impl_->bytes; }

UMT5Weights UMT5EncoderCuda::default_weights() {
  int n = 0, dev = 0;
  cudaDeviceProp prop{};
  if (cudaGetDeviceCount(&n) != cudaSuccess || n == 0 || cudaGetDevice(&dev) != cudaSuccess ||
      cudaGetDeviceProperties(&prop, dev) != cudaSuccess) {
    cudaGetLastError();  // clear the error a failed query leaves behind
    return UMT5Weights::BF16;
  }
  return prop.totalGlobalMem < (size_t(40) << 30) ? UMT5Weights::Int8 : UMT5Weights::BF16;
}

std::unique_ptr<UMT5EncoderCuda> UMT5EncoderCuda::load(const std::string& path, UMT5Weights weights) {
  return load(std::make_shared<loader::Checkpoint>(loader::Checkpoint::open(path)), weights);
}

std::unique_ptr<UMT5EncoderCuda> UMT5EncoderCuda::load(std::shared_ptr<loader::Checkpoint> ckpt, UMT5Weights weights) {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess || n == 0) throw Error("no CUDA device is visible (cudaGetDeviceCount); use the CPU text encoder");
  auto cpu = UMT5Encoder::load(ckpt);  // renames HF keys in place, validates, detects the config
  auto im = std::make_unique<Impl>();
  const UMT5Config& c = im->cfg = cpu->config();
  im->weights = weights;
  im->ckpt = ckpt;
  const loader::Checkpoint& ck = *ckpt;
  im->token_embedding = ck.tensor("token_embedding.weight", {c.vocab, c.dim});
  const bool shared_pos = !ck.has("blocks.0.pos_embedding.embedding.weight");
  StagedUploader uploader;  // streamed through pinned staging buffers, copies overlapped (core/staged_upload.h)
  auto up = [&](const std::string& key, std::vector<int64_t> shape) {
    const Tensor t = ck.tensor(key, shape);
    DeviceBuffer b(size_t(t.numel()) * 2);
    uploader.add(t, DType::BF16, b.get());
    im->bytes += b.bytes();
    return b;
  };
  const bool int8 = weights == UMT5Weights::Int8;
  if (int8) {
    im->expanded = DeviceBuffer(size_t(std::max(c.dim_attn, c.dim_ffn) * c.dim) * 2);  // [F, D], [D, F], [A, D], [D, A]
    im->bytes += im->expanded.bytes();
  }
  // int8: the weight goes to the device as stored (bf16 checkpoint: straight copy) or rounded to bf16
  // (f32 checkpoint), as the bf16 path holds it, and is quantized there per row, so int8 differs from
  // the bf16 encoder by the int8 rounding alone.
  auto lin = [&](const std::string& key, int64_t rows, int64_t cols) {
    DevLinear l;
    l.rows = rows, l.cols = cols;
    if (!int8) {
      l.w = up(key, {rows, cols});
      return l;
    }
    const Tensor t = ck.tensor(key, {rows, cols});
    const size_t n = size_t(rows * cols);
    if (t.dtype == DType::BF16 && t.contiguous()) {
      TW_CUDA_CHECK(cudaMemcpyAsync(im->expanded.get(), t.data, n * 2, cudaMemcpyHostToDevice, cuda::stream()));
    } else {
      std::vector<float> h(n);
      to_f32(t, h.data());
      cuda::upload_as(h.data(), int64_t(n), DType::BF16, im->expanded.get());
    }
    l.w = DeviceBuffer(n);
    l.scale = DeviceBuffer(size_t(rows) * 4);
    ops::quantize_int8_rows({im->expanded.view(DType::BF16, {rows, cols}), l.w.view(DType::I8, {rows, cols}), l.scale.view(DType::F32, {rows})});
    im->bytes += l.w.bytes() + l.scale.bytes();
    return l;
  };
  for (int64_t i = 0; i < c.num_layers; ++i) {
    const std::string p = "blocks." + std::to_string(i) + ".";
    DevBlock b;
    b.norm1 = up(p + "norm1.weight", {c.dim});
    b.q = lin(p + "attn.q.weight", c.dim_attn, c.dim);
    b.k = lin(p + "attn.k.weight", c.dim_attn, c.dim);
    b.v = lin(p + "attn.v.weight", c.dim_attn, c.dim);
    b.o = lin(p + "attn.o.weight", c.dim, c.dim_attn);
    b.norm2 = up(p + "norm2.weight", {c.dim});
    b.gate = lin(p + "ffn.gate.0.weight", c.dim_ffn, c.dim);
    b.fc1 = lin(p + "ffn.fc1.weight", c.dim_ffn, c.dim);
    b.fc2 = lin(p + "ffn.fc2.weight", c.dim, c.dim_ffn);
    const Tensor pe = ck.tensor(shared_pos ? "pos_embedding.embedding.weight" : p + "pos_embedding.embedding.weight", {c.num_buckets, c.num_heads});
    b.pos.resize(size_t(c.num_buckets * c.num_heads));
    to_f32(pe, b.pos.data());
    im->blocks.push_back(std::move(b));
  }
  im->norm = up("norm.weight", {c.dim});
  uploader.finish();
  cuda::synchronize();
  return std::unique_ptr<UMT5EncoderCuda>(new UMT5EncoderCuda(std::move(im)));
}

HostTensor UMT5EncoderCuda::encode(const std::vector<int32_t>& ids, const std::vector<int32_t>& mask) const {
  const Impl& m = *impl_;
  const UMT5Config& c = m.cfg;
  const int64_t L = int64_t(ids.size());
  if (L == 0 || mask.size() != ids.size())
    throw Error("umt5 encode: ids (" + std::to_string(ids.size()) + ") and mask (" + std::to_string(mask.size()) +
                ") must be non-empty and of one length");
  int64_t n = 0;  // positions computed: up to the last unmasked token (pad keys get zero weight)
  bool gaps = false;
  for (int64_t i = 0; i < L; ++i) if (mask[size_t(i)] != 0) n = i + 1;
  if (n == 0) throw Error("umt5 encode: the mask has no tokens (a tokenized prompt always keeps </s>)");
  for (int64_t i = 0; i < n; ++i) gaps |= mask[size_t(i)] == 0;
  for (int64_t i = 0; i < n; ++i)
    if (ids[size_t(i)] < 0 || ids[size_t(i)] >= c.vocab)
      throw Error("umt5 encode: token id " + std::to_string(ids[size_t(i)]) + " at position " + std::to_string(i) +
                  " is outside the vocabulary (" + std::to_string(c.vocab) + "); tokenizer and encoder do not match");

  const int64_t D = c.dim, A = c.dim_attn, F = c.dim_ffn, H = c.num_heads, dh = c.head_dim();
  // x = token_embedding[ids]: only these rows leave host memory   // x: [n, D]
  std::vector<float> xh(static_cast<size_t>(n * D));
  for (int64_t i = 0; i < n; ++i) to_f32(m.token_embedding.slice0(ids[size_t(i)], ids[size_t(i)] + 1), xh.data() + i * D);
  DeviceBuffer xb = cuda::to_device(xh, DType::BF16);
  DeviceBuffer ab(size_t(n * D) * 2), tb(size_t(n * D) * 2), qb(size_t(n * A) * 2), kb(size_t(n * A) * 2), vb(size_t(n * A) * 2),
      ob(size_t(n * A) * 2), gb(size_t(n * F) * 2), hb(size_t(n * F) * 2), biasb(size_t(H * (2 * n - 1)) * 4), maskb;
  const auto bf = [](const DeviceBuffer& b, std::vector<int64_t> s) { return b.view(DType::BF16, s); };
  const Tensor x = bf(xb, {n, D}), a = bf(ab, {n, D}), t = bf(tb, {n, D}), q = bf(qb, {n, A}), k = bf(kb, {n, A}), v = bf(vb, {n, A}),
               o = bf(ob, {n, A}), g = bf(gb, {n, F}), h = bf(hb, {n, F}), bias = biasb.view(DType::F32, {H, 2 * n - 1});
  Tensor key_mask;
  if (gaps) {
    std::vector<int32_t> km(mask.begin(), mask.begin() + n);
    maskb = DeviceBuffer(size_t(n) * 4);
    TW_CUDA_CHECK(cudaMemcpy(maskb.get(), km.data(), size_t(n) * 4, cudaMemcpyHostToDevice));
    key_mask = maskb.view(DType::I32, {n});
  }
  std::vector<int64_t> bucket(static_cast<size_t>(2 * n - 1));  // bucket of rel = j − i, at index rel + n − 1
  for (int64_t r = -(n - 1); r <= n - 1; ++r) bucket[size_t(r + n - 1)] = t5_relative_bucket(r, c.num_buckets, c.max_distance);
  std::vector<float> bias_h(static_cast<size_t>(H * (2 * n - 1)));

  for (const DevBlock& b : m.blocks) {
    // bias[h, j − i + n − 1] = pos_embedding[bucket(j − i), h] (the reference adds it in bf16)
    for (int64_t hh = 0; hh < H; ++hh)
      for (int64_t r = 0; r < 2 * n - 1; ++r) bias_h[size_t(hh * (2 * n - 1) + r)] = round_bf16(b.pos[size_t(bucket[size_t(r)] * H + hh)]);
    // Pageable source: the call returns once bias_h is staged, and the device copy is ordered on the
    // stream after the previous layer's attention, so both buffers can be reused for the next layer.
    TW_CUDA_CHECK(cudaMemcpyAsync(biasb.get(), bias_h.data(), biasb.bytes(), cudaMemcpyHostToDevice, cuda::stream()));
    // x = x + o(attn(norm1(x)))   // q, k, v: [n, H, dh]
    ops::rms_norm({x, b.norm1.view(DType::BF16, {D}), a, c.eps});
    ops::linear({a, m.weight(b.q), {}, q});
    ops::linear({a, m.weight(b.k), {}, k});
    ops::linear({a, m.weight(b.v), {}, v});
    ops::AttentionRelBiasParams ap;
    ap.q = q.reshape({n, H, dh}), ap.k = k.reshape({n, H, dh}), ap.v = v.reshape({n, H, dh});
    ap.o = o.reshape({n, H, dh}), ap.rel_bias = bias, ap.key_mask = key_mask, ap.scale = 1.f;
    ops::attention_rel_bias(ap);
    ops::linear({o, m.weight(b.o), {}, t});
    ops::gated_add({x, t, {}});
    // x = x + fc2(fc1(f) ⊙ gelu_tanh(gate(f))), f = norm2(x)   // g, h: [n, F]
    ops::rms_norm({x, b.norm2.view(DType::BF16, {D}), a, c.eps});
    ops::linear({a, m.weight(b.gate), {}, g});
    ops::activation({g, g, ops::Activation::GeluTanh});
    ops::linear({a, m.weight(b.fc1), {}, h});
    ops::mul({h, g, h});
    ops::linear({h, m.weight(b.fc2), {}, t});
    ops::gated_add({x, t, {}});
  }
  ops::rms_norm({x, m.norm.view(DType::BF16, {D}), a, c.eps});

  // out: [L, D], pad rows zero (TurboDiffusion; the DiT always receives all L rows)
  std::vector<float> ah(static_cast<size_t>(n * D));
  cuda::download_as_f32(ab.get(), n * D, DType::BF16, ah.data());
  HostTensor out = HostTensor::zeros(DType::F32, {L, D});
  for (int64_t i = 0; i < n; ++i)
    if (mask[size_t(i)] != 0) std::copy(ah.data() + i * D, ah.data() + (i + 1) * D, out.f32() + i * D);
  return out;
}

#endif

}  // namespace tw::engine

// umT5 encoder on the GPU: the weights of UMT5Encoder uploaded once as bf16 (the real encoder is
// 11.4 GB in bf16; the 2.1 GB token embedding stays in host memory, only the prompt's rows travel),
// a bf16 residual stream as the reference keeps it (t5_dtype bf16), and every op from kernels/ on
// CUDA tensors (rms_norm, linear, attention_rel_bias with the per-layer position bias and the pad-key
// mask, gated GELU with mul). Same inputs and outputs as UMT5Encoder::encode.
// UMT5Weights::Int8 stores the seven linears of every block as int8 with one fp32 scale per output
// channel (quantized on upload, 4.6 GB instead of 9.3 GB for umT5-XXL) and expands each weight into
// one reusable bf16 buffer right before its GEMM (ops_quant.h); activations stay bf16.
// Without the CUDA backend, load() throws a clear error.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "models/umt5.h"

namespace tw::engine {

// How the encoder's linear weights are held on the GPU.
enum class UMT5Weights { BF16, Int8 };
// "bf16" / "int8" → the enum; anything else throws naming the accepted values.
UMT5Weights parse_umt5_weights(const std::string& s);
const char* umt5_weights_name(UMT5Weights w);

class UMT5EncoderCuda {
 public:
  // Checks the checkpoint through UMT5Encoder::load (key renames, config detection, shapes), then uploads it.
  static std::unique_ptr<UMT5EncoderCuda> load(std::shared_ptr<loader::Checkpoint> ckpt, UMT5Weights weights = UMT5Weights::BF16);
  static std::unique_ptr<UMT5EncoderCuda> load(const std::string& path, UMT5Weights weights = UMT5Weights::BF16);
  // The default for this GPU: Int8 when the device has less than 40 GiB (there the 4.6 GB saved
  // decides whether a 14B DiT, the VAE and their activations fit), else BF16. BF16 without a device.
  static UMT5Weights default_weights();
  ~UMT5EncoderCuda();

  const UMT5Config& config() const;
  UMT5Weights weights() const;
  // ids, mask: L values each → [L, dim] host F32, rows with mask 0 zero (UMT5Encoder::encode's contract).
  HostTensor encode(const std::vector<int32_t>& ids, const std::vector<int32_t>& mask) const;
  // Device memory held for the weights (with Int8: int8 values, row scales and the bf16 expansion buffer).
  size_t weight_bytes() const;

  struct Impl;
 private:
  explicit UMT5EncoderCuda(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace tw::engine

// Maps every Wan DiT key scheme in circulation onto the TurboDiffusion names of facts §2.2
// (prefix-free, Linear patch embedding), and reads the model config off the weights' shapes.
// Schemes (facts §2.2/§2.3): TurboDiffusion (proj_l keys), TurboDiffusion -quant (int8_weight +
// scale), official Wan (no proj_l, Conv3d patch weight [D,C,1,2,2]), ComfyUI repackages (official
// with `model.diffusion_model.`), diffusers (attn1/attn2/condition_embedder names). Training
// wrappers (`net.`, `module.`, `_orig_mod.`) are stripped whatever the scheme.
#pragma once

#include <cstdint>
#include <string>

#include "loader/checkpoint.h"

namespace tw::engine {

enum class DitKeyScheme { TurboDiffusion, TurboDiffusionQuant, Official, Comfy, Diffusers };
const char* dit_key_scheme_name(DitKeyScheme s);  // "turbodiffusion", "turbodiffusion-quant", ...

// Renames the checkpoint's keys in place (views only; no data is touched) and returns the scheme
// it found. Idempotent: a checkpoint already in TurboDiffusion names is left as it is.
// Throws naming the file when there is no `patch_embedding.weight` or the patch kernel is not 1×2×2.
DitKeyScheme normalize_dit_keys(loader::Checkpoint& ckpt);

struct DitWeightsInfo {
  int64_t dim = 0, ffn_dim = 0, in_dim = 0, out_dim = 0, text_dim = 0, freq_dim = 0;
  int64_t num_layers = 0, num_heads = 0;  // heads = dim / 128 (every Wan model has head dim 128)
  bool has_proj_l = false;                // SLA linear-branch projections (TurboDiffusion files)
  bool quantized = false;                 // int8 W8A8 block Linears (TurboDiffusion -quant files)
};

// Reads the config from a normalized checkpoint and checks every DiT key's shape against it, so a
// mismatch names the key, its shape and the expected one.
DitWeightsInfo detect_dit_config(const loader::Checkpoint& ckpt);

}  // namespace tw::engine

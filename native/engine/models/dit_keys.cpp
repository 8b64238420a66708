#include "models/dit_keys.h"

#include <cstdlib>
#include <set>
#include <utility>
#include <vector>

namespace tw::engine {

using loader::Checkpoint;

namespace {

const char* const kPatch = "patch_embedding.weight";
const char* const kProjL = "self_attn.attn_op.local_attn.proj_l.weight";
const char* const kLinears[] = {"self_attn.q", "self_attn.k", "self_attn.v", "self_attn.o", "cross_attn.q",
                                "cross_attn.k", "cross_attn.v", "cross_attn.o", "ffn.0", "ffn.2"};

bool starts_with(const std::string& s, const std::string& p) { return s.compare(0, p.size(), p) == 0; }
bool ends_with(const std::string& s, const std::string& p) {
  return s.size() >= p.size() && s.compare(s.size() - p.size(), p.size(), p) == 0;
}

std::string shape_str(const std::vector<int64_t>& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}

std::string where(const Checkpoint& ck) {
  std::string s;
  for (const auto& f : ck.files()) s += (s.empty() ? "" : ", ") + f;
  return s.empty() ? "(checkpoint)" : s;
}

// diffusers → TurboDiffusion names (facts §2.3); `top` entries apply at the model root, `block`
// entries right after `blocks.<i>.`.
const std::pair<const char*, const char*> kDiffusersTop[] = {
    {"condition_embedder.text_embedder.linear_1.", "text_embedding.0."},
    {"condition_embedder.text_embedder.linear_2.", "text_embedding.2."},
    {"condition_embedder.time_embedder.linear_1.", "time_embedding.0."},
    {"condition_embedder.time_embedder.linear_2.", "time_embedding.2."},
    {"condition_embedder.time_proj.", "time_projection.1."},
    {"proj_out.", "head.head."},
};
const std::pair<const char*, const char*> kDiffusersBlock[] = {
    {"attn1.to_q.", "self_attn.q."},       {"attn1.to_k.", "self_attn.k."},       {"attn1.to_v.", "self_attn.v."},
    {"attn1.to_out.0.", "self_attn.o."},   {"attn1.norm_q.", "self_attn.norm_q."}, {"attn1.norm_k.", "self_attn.norm_k."},
    {"attn2.to_q.", "cross_attn.q."},      {"attn2.to_k.", "cross_attn.k."},      {"attn2.to_v.", "cross_attn.v."},
    {"attn2.to_out.0.", "cross_attn.o."},  {"attn2.norm_q.", "cross_attn.norm_q."}, {"attn2.norm_k.", "cross_attn.norm_k."},
    {"ffn.net.0.proj.", "ffn.0."},         {"ffn.net.2.", "ffn.2."},              {"norm2.", "norm3."},
};

std::string diffusers_to_td(const std::string& key) {
  if (key == "scale_shift_table") return "head.modulation";
  for (const auto& r : kDiffusersTop)
    if (starts_with(key, r.first)) return r.second + key.substr(std::string(r.first).size());
  if (starts_with(key, "blocks.")) {
    size_t dot = key.find('.', 7);
    if (dot == std::string::npos) return key;
    std::string head = key.substr(0, dot + 1), rest = key.substr(dot + 1);
    if (rest == "scale_shift_table") return head + "modulation";
    for (const auto& r : kDiffusersBlock)
      if (starts_with(rest, r.first)) return head + r.second + rest.substr(std::string(r.first).size());
  }
  return key;
}

// Applies all renames at once so that no rename can land on a key another one is about to vacate.
void rename_all(Checkpoint& ck, const std::vector<std::pair<std::string, std::string>>& renames) {
  if (renames.empty()) return;
  std::set<std::string> targets;
  for (const auto& r : renames)
    if (!targets.insert(r.second).second)
      throw Error(where(ck) + ": two keys map to '" + r.second + "' (e.g. '" + r.first + "'); the checkpoint mixes key schemes");
  const std::string tmp = "\x01tw-rename\x01";
  for (const auto& r : renames) ck.rename(r.first, tmp + r.first);
  for (const auto& r : renames) ck.rename(tmp + r.first, r.second);
}

}  // namespace

const char* dit_key_scheme_name(DitKeyScheme s) {
  switch (s) {
    case DitKeyScheme::TurboDiffusion: return "turbodiffusion";
    case DitKeyScheme::TurboDiffusionQuant: return "turbodiffusion-quant";
    case DitKeyScheme::Official: return "official";
    case DitKeyScheme::Comfy: return "comfy";
    case DitKeyScheme::Diffusers: return "diffusers";
  }
  return "?";
}

DitKeyScheme normalize_dit_keys(Checkpoint& ck) {
  // The DiT root is wherever `patch_embedding.weight` sits: whatever stands before it (`net.`,
  // `module._orig_mod.`, `model.diffusion_model.`) is a wrapper prefix.
  std::string prefix;
  bool found = false;
  for (const auto& name : ck.names()) {
    if (name == kPatch || ends_with(name, std::string(".") + kPatch)) {
      std::string p = name.substr(0, name.size() - std::string(kPatch).size());
      if (found && p != prefix)
        throw Error(where(ck) + ": two DiT roots ('" + prefix + kPatch + "' and '" + name + "'); load one model per checkpoint");
      prefix = p;
      found = true;
    }
  }
  if (!found)
    throw Error(where(ck) + ": no key '" + kPatch + "' (with or without a prefix); not a Wan DiT checkpoint");

  std::vector<std::pair<std::string, std::string>> renames;
  for (const auto& name : ck.names())
    if (!prefix.empty() && starts_with(name, prefix)) renames.emplace_back(name, name.substr(prefix.size()));
  rename_all(ck, renames);

  const bool diffusers = ck.has("scale_shift_table") || ck.has("proj_out.weight") ||
                         ck.has("condition_embedder.time_proj.weight");
  if (diffusers) {
    renames.clear();
    for (const auto& name : ck.names()) {
      std::string to = diffusers_to_td(name);
      if (to != name) renames.emplace_back(name, to);
    }
    rename_all(ck, renames);
  }

  // Official and diffusers files keep the Conv3d weight [D, C, 1, 2, 2]; its (c, kt, kh, kw)
  // order is the Linear layout TurboDiffusion uses, so a reshape suffices.
  const auto& patch = ck.info(kPatch);
  if (patch.shape.size() == 5) {
    const auto& s = patch.shape;
    if (s[2] != 1 || s[3] != 2 || s[4] != 2)
      throw Error(patch.file + ": key '" + kPatch + "' has shape " + shape_str(s) + ", expected a 1x2x2 patch kernel [" +
                  std::to_string(s[0]) + ", " + std::to_string(s[1]) + ", 1, 2, 2]");
    ck.set_shape(kPatch, {s[0], s[1] * 4});
  }

  if (diffusers) return DitKeyScheme::Diffusers;
  bool quant = false, proj_l = false;
  for (const auto& name : ck.names()) {
    quant = quant || ends_with(name, ".int8_weight");
    proj_l = proj_l || ends_with(name, kProjL);
  }
  if (quant) return DitKeyScheme::TurboDiffusionQuant;
  if (proj_l) return DitKeyScheme::TurboDiffusion;
  return prefix == "model.diffusion_model." ? DitKeyScheme::Comfy : DitKeyScheme::Official;
}

namespace {

class ShapeChecker {
 public:
  ShapeChecker(const Checkpoint& ck, std::string context) : ck_(ck), context_(std::move(context)) {}
  const std::vector<int64_t>& shape(const std::string& key, size_t rank) const {
    const auto& t = ck_.info(key);
    if (t.shape.size() != rank)
      throw Error(t.file + ": key '" + key + "' has shape " + shape_str(t.shape) + ", expected rank " + std::to_string(rank));
    return t.shape;
  }
  void expect(const std::string& key, const std::vector<int64_t>& want) const {
    const auto& t = ck_.info(key);
    if (t.shape != want)
      throw Error(t.file + ": key '" + key + "' has shape " + shape_str(t.shape) + ", expected " + shape_str(want) + " (" +
                  context_ + ")");
  }
  void set_context(std::string c) { context_ = std::move(c); }
 private:
  const Checkpoint& ck_;
  std::string context_;
};

}  // namespace

DitWeightsInfo detect_dit_config(const Checkpoint& ck) {
  DitWeightsInfo c;
  ShapeChecker sc(ck, "");
  const auto& patch = ck.info(kPatch);
  if (patch.shape.size() != 2 || patch.shape[1] % 4 != 0)
    throw Error(patch.file + ": key '" + kPatch + "' has shape " + shape_str(patch.shape) +
                ", expected [dim, in_dim*4] (call normalize_dit_keys first for Conv3d weights)");
  c.dim = patch.shape[0];
  c.in_dim = patch.shape[1] / 4;
  if (c.dim <= 0 || c.dim % 128 != 0)
    throw Error(patch.file + ": dim " + std::to_string(c.dim) + " from '" + kPatch + "' is not a multiple of the head dim 128");
  c.num_heads = c.dim / 128;
  const int64_t D = c.dim;
  c.text_dim = sc.shape("text_embedding.0.weight", 2)[1];
  c.freq_dim = sc.shape("time_embedding.0.weight", 2)[1];
  const auto& head = sc.shape("head.head.weight", 2);
  if (head[0] % 4 != 0)
    throw Error(ck.info("head.head.weight").file + ": key 'head.head.weight' has shape " + shape_str(head) +
                ", expected [out_dim*4, dim]");
  c.out_dim = head[0] / 4;
  c.quantized = ck.has("blocks.0.ffn.0.int8_weight");
  c.ffn_dim = sc.shape(c.quantized ? "blocks.0.ffn.0.int8_weight" : "blocks.0.ffn.0.weight", 2)[0];
  c.has_proj_l = ck.has(std::string("blocks.0.") + kProjL);
  while (ck.has("blocks." + std::to_string(c.num_layers) + ".modulation")) ++c.num_layers;
  if (c.num_layers == 0) throw Error(where(ck) + ": no key 'blocks.0.modulation'; the DiT has no blocks");
  // A block index past the count means a block in the middle is missing.
  for (const auto& name : ck.names()) {
    if (!starts_with(name, "blocks.")) continue;
    int64_t i = std::atoll(name.c_str() + 7);
    if (i >= c.num_layers)
      throw Error(ck.info(name).file + ": key '" + name + "' belongs to block " + std::to_string(i) + ", but 'blocks." +
                  std::to_string(c.num_layers) + ".modulation' is missing");
  }

  const int64_t F = c.ffn_dim;
  sc.set_context("dim " + std::to_string(D) + " from " + kPatch + ", ffn_dim " + std::to_string(F) + " from blocks.0.ffn.0, text_dim " +
                 std::to_string(c.text_dim) + ", freq_dim " + std::to_string(c.freq_dim));
  sc.expect("patch_embedding.bias", {D});
  sc.expect("text_embedding.0.weight", {D, c.text_dim});
  sc.expect("text_embedding.0.bias", {D});
  sc.expect("text_embedding.2.weight", {D, D});
  sc.expect("text_embedding.2.bias", {D});
  sc.expect("time_embedding.0.weight", {D, c.freq_dim});
  sc.expect("time_embedding.0.bias", {D});
  sc.expect("time_embedding.2.weight", {D, D});
  sc.expect("time_embedding.2.bias", {D});
  sc.expect("time_projection.1.weight", {6 * D, D});
  sc.expect("time_projection.1.bias", {6 * D});
  sc.expect("head.head.weight", {c.out_dim * 4, D});
  sc.expect("head.head.bias", {c.out_dim * 4});
  sc.expect("head.modulation", {1, 2, D});
  for (int64_t i = 0; i < c.num_layers; ++i) {
    const std::string p = "blocks." + std::to_string(i) + ".";
    sc.expect(p + "modulation", {1, 6, D});
    for (const char* lin : kLinears) {
      const std::string l = p + lin;
      const int64_t out = std::string(lin) == "ffn.0" ? F : D, in = std::string(lin) == "ffn.2" ? F : D;
      const bool q = ck.has(l + ".int8_weight");
      if (q != c.quantized)
        throw Error(where(ck) + ": '" + l + (c.quantized ? ".int8_weight' is missing" : ".int8_weight' is present") +
                    " but blocks.0.ffn.0 is " + (c.quantized ? "quantized" : "not quantized"));
      if (q) {
        sc.expect(l + ".int8_weight", {out, in});
        sc.expect(l + ".scale", {(out + 127) / 128, (in + 127) / 128});
      } else {
        sc.expect(l + ".weight", {out, in});
      }
      sc.expect(l + ".bias", {out});
    }
    for (const char* n : {"self_attn.norm_q.weight", "self_attn.norm_k.weight", "cross_attn.norm_q.weight",
                          "cross_attn.norm_k.weight", "norm3.weight", "norm3.bias"})
      sc.expect(p + n, {D});
    const bool pl = ck.has(p + kProjL);
    if (pl != c.has_proj_l)
      throw Error(where(ck) + ": '" + p + kProjL + (pl ? "' is present" : "' is missing") + " but blocks.0 " +
                  (c.has_proj_l ? "has" : "has no") + " proj_l");
    if (pl) {
      sc.expect(p + kProjL, {128, 128});
      sc.expect(p + "self_attn.attn_op.local_attn.proj_l.bias", {128});
    }
  }
  return c;
}

}  // namespace tw::engine

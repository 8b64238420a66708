// Key-scheme normalization and config detection: the torch-written tiny DiTs in four schemes, and
// in-memory checkpoints with the real Wan sizes (no data needed: only names and shapes are read).
#include <algorithm>
#include <set>

#include "../loader/fixture_manifest.h"
#include "models/dit_keys.h"

using namespace twtest;
using tw::engine::DitKeyScheme;
using tw::engine::DitWeightsInfo;
using tw::loader::Checkpoint;
using tw::loader::TensorInfo;

namespace {

struct Spec {
  int64_t D = 128, F = 256, in = 16, out = 16, text = 64, freq = 32, layers = 2;
  bool quant = false, proj_l = true, conv_patch = false;
};

// TurboDiffusion names (facts §2.2) with shapes only.
std::vector<TensorInfo> td_keys(const Spec& s, const std::string& prefix = "") {
  std::vector<TensorInfo> v;
  auto add = [&](const std::string& k, std::vector<int64_t> shape, tw::DType dt = tw::DType::BF16) {
    TensorInfo t;
    t.name = prefix + k;
    t.shape = std::move(shape);
    t.dtype = dt;
    v.push_back(std::move(t));
  };
  const int64_t D = s.D;
  if (s.conv_patch) add("patch_embedding.weight", {D, s.in, 1, 2, 2});
  else add("patch_embedding.weight", {D, s.in * 4});
  add("patch_embedding.bias", {D});
  add("text_embedding.0.weight", {D, s.text});
  add("text_embedding.0.bias", {D});
  add("text_embedding.2.weight", {D, D});
  add("text_embedding.2.bias", {D});
  add("time_embedding.0.weight", {D, s.freq});
  add("time_embedding.0.bias", {D});
  add("time_embedding.2.weight", {D, D});
  add("time_embedding.2.bias", {D});
  add("time_projection.1.weight", {6 * D, D});
  add("time_projection.1.bias", {6 * D});
  add("head.head.weight", {s.out * 4, D});
  add("head.head.bias", {s.out * 4});
  add("head.modulation", {1, 2, D});
  for (int64_t i = 0; i < s.layers; ++i) {
    const std::string p = "blocks." + std::to_string(i) + ".";
    add(p + "modulation", {1, 6, D});
    for (const char* lin : {"self_attn.q", "self_attn.k", "self_attn.v", "self_attn.o", "cross_attn.q", "cross_attn.k",
                            "cross_attn.v", "cross_attn.o", "ffn.0", "ffn.2"}) {
      int64_t o = std::string(lin) == "ffn.0" ? s.F : D, k = std::string(lin) == "ffn.2" ? s.F : D;
      if (s.quant) {
        add(p + lin + ".int8_weight", {o, k}, tw::DType::I8);
        add(p + lin + ".scale", {(o + 127) / 128, (k + 127) / 128}, tw::DType::F32);
      } else {
        add(p + lin + ".weight", {o, k});
      }
      add(p + lin + ".bias", {o});
    }
    for (const char* n : {"self_attn.norm_q.weight", "self_attn.norm_k.weight", "cross_attn.norm_q.weight",
                          "cross_attn.norm_k.weight", "norm3.weight", "norm3.bias"})
      add(p + n, {D}, tw::DType::F32);
    if (s.proj_l) {
      add(p + "self_attn.attn_op.local_attn.proj_l.weight", {128, 128});
      add(p + "self_attn.attn_op.local_attn.proj_l.bias", {128});
    }
  }
  return v;
}

void check_config(const DitWeightsInfo& c, const Spec& s, const char* what) {
  TW_CHECK_MSG(c.dim == s.D && c.ffn_dim == s.F && c.in_dim == s.in && c.out_dim == s.out && c.text_dim == s.text &&
                   c.freq_dim == s.freq && c.num_layers == s.layers && c.num_heads == s.D / 128,
               "%s: detected dim %lld ffn %lld in %lld out %lld text %lld freq %lld layers %lld heads %lld", what,
               (long long)c.dim, (long long)c.ffn_dim, (long long)c.in_dim, (long long)c.out_dim, (long long)c.text_dim,
               (long long)c.freq_dim, (long long)c.num_layers, (long long)c.num_heads);
  TW_CHECK_MSG(c.quantized == s.quant && c.has_proj_l == s.proj_l, "%s: quantized/proj_l flags", what);
}

std::set<std::string> names_of(const std::vector<TensorInfo>& v) {
  std::set<std::string> s;
  for (const auto& t : v) s.insert(t.name);
  return s;
}
std::set<std::string> names_of(const Checkpoint& ck) {
  auto n = ck.names();
  return std::set<std::string>(n.begin(), n.end());
}

void fixtures() {
  const auto& m = *manifest().find("dit");
  Spec s;
  s.D = m.find("dim")->integer, s.F = m.find("ffn_dim")->integer, s.in = m.find("in_dim")->integer;
  s.out = m.find("out_dim")->integer, s.text = m.find("text_dim")->integer, s.freq = m.find("freq_dim")->integer;
  s.layers = m.find("num_layers")->integer;
  const struct { const char* file; DitKeyScheme scheme; bool quant, proj_l; } cases[] = {
      {"dit_td.pth", DitKeyScheme::TurboDiffusion, false, true},
      {"dit_td_quant.pth", DitKeyScheme::TurboDiffusionQuant, true, true},
      {"dit_official_comfy.pth", DitKeyScheme::Comfy, false, false},
      {"dit_diffusers.pth", DitKeyScheme::Diffusers, false, false},
  };
  for (const auto& c : cases) {
    try {
      Checkpoint ck = Checkpoint::open(std::string(kFixtureDir) + c.file);
      DitKeyScheme got = tw::engine::normalize_dit_keys(ck);
      TW_CHECK_MSG(got == c.scheme, "%s: scheme %s", c.file, tw::engine::dit_key_scheme_name(got));
      Spec want = s;
      want.quant = c.quant;
      want.proj_l = c.proj_l;
      TW_CHECK_MSG(names_of(ck) == names_of(td_keys(want)), "%s: normalized names differ from TurboDiffusion's", c.file);
      check_config(tw::engine::detect_dit_config(ck), want, c.file);
      // Idempotent: a second pass renames nothing (it then reports the names it sees).
      std::set<std::string> once = names_of(ck);
      tw::engine::normalize_dit_keys(ck);
      TW_CHECK(names_of(ck) == once);
    } catch (const std::exception& e) {
      TW_CHECK_MSG(false, "%s: %s", c.file, e.what());
    }
  }
  // The reshaped Conv3d weight is the same bytes under the Linear shape.
  Checkpoint ck = Checkpoint::open(std::string(kFixtureDir) + "dit_official_comfy.pth");
  const void* before = ck.info("model.diffusion_model.patch_embedding.weight").data;
  tw::engine::normalize_dit_keys(ck);
  tw::Tensor p = ck.tensor("patch_embedding.weight", {s.D, s.in * 4});
  TW_CHECK(p.data == before);
  const auto& want = *manifest().find("files")->find("dit_official_comfy.pth")->find("tensors")->find(
      "model.diffusion_model.patch_embedding.weight");
  TW_CHECK(double(tw::load_as_f32(p, 1)) == want.find("first")->array[1].number);
  // Diffusers' attn1.to_out.0 became self_attn.o with the same data.
  Checkpoint d = Checkpoint::open(std::string(kFixtureDir) + "dit_diffusers.pth");
  const void* o = d.info("blocks.1.attn1.to_out.0.weight").data;
  tw::engine::normalize_dit_keys(d);
  TW_CHECK(d.info("blocks.1.self_attn.o.weight").data == o);
}

void real_sizes() {
  Spec t13;  // Wan2.1 T2V 1.3B, TurboDiffusion file: 885 keys
  t13.D = 1536, t13.F = 8960, t13.text = 4096, t13.freq = 256, t13.layers = 30;
  Checkpoint a = Checkpoint::from_tensors(td_keys(t13));
  TW_CHECK(a.size() == 885);
  TW_CHECK(tw::engine::normalize_dit_keys(a) == DitKeyScheme::TurboDiffusion);
  check_config(tw::engine::detect_dit_config(a), t13, "1.3B");

  Spec q14 = t13;  // Wan2.1 T2V 14B -quant, `net.` training prefix: 1575 keys
  q14.D = 5120, q14.F = 13824, q14.layers = 40, q14.quant = true;
  Checkpoint b = Checkpoint::from_tensors(td_keys(q14, "net."));
  TW_CHECK(b.size() == 1575);
  TW_CHECK(tw::engine::normalize_dit_keys(b) == DitKeyScheme::TurboDiffusionQuant);
  check_config(tw::engine::detect_dit_config(b), q14, "14B quant");
  TW_CHECK((b.info("blocks.39.ffn.0.scale").shape == std::vector<int64_t>{108, 40}));

  Spec a14 = q14;  // Wan2.2 I2V A14B expert, official names, Conv3d patch, DDP + torch.compile wrappers
  a14.quant = false, a14.proj_l = false, a14.conv_patch = true, a14.in = 36;
  Checkpoint c = Checkpoint::from_tensors(td_keys(a14, "module._orig_mod."));
  TW_CHECK(c.size() == 1095);
  TW_CHECK(tw::engine::normalize_dit_keys(c) == DitKeyScheme::Official);
  check_config(tw::engine::detect_dit_config(c), a14, "A14B");
  TW_CHECK((c.info("patch_embedding.weight").shape == std::vector<int64_t>{5120, 144}));
}

void inconsistent() {
  auto msg_of = [](std::vector<TensorInfo> keys) {
    return expect_throw([&] {
      Checkpoint ck = Checkpoint::from_tensors(std::move(keys));
      tw::engine::normalize_dit_keys(ck);
      tw::engine::detect_dit_config(ck);
    });
  };
  auto with = [](std::vector<TensorInfo> v, const std::string& key, std::vector<int64_t> shape) {
    for (auto& t : v)
      if (t.name == key) t.shape = std::move(shape), t.stride.clear();
    return v;
  };
  auto without = [](std::vector<TensorInfo> v, const std::string& key) {
    v.erase(std::remove_if(v.begin(), v.end(), [&](const TensorInfo& t) { return t.name == key; }), v.end());
    return v;
  };
  Spec s;
  s.layers = 4;
  std::string msg = msg_of(with(td_keys(s), "blocks.3.ffn.2.weight", {128, 512}));
  TW_CHECK_MSG(contains(msg, "'blocks.3.ffn.2.weight'") && contains(msg, "[128, 512]") && contains(msg, "expected [128, 256]"),
               "%s", msg.c_str());
  msg = msg_of(without(td_keys(s), "blocks.2.modulation"));
  TW_CHECK_MSG(contains(msg, "blocks.2.modulation"), "%s", msg.c_str());
  msg = msg_of(without(td_keys(s), "blocks.1.cross_attn.norm_k.weight"));
  TW_CHECK_MSG(contains(msg, "'blocks.1.cross_attn.norm_k.weight'"), "%s", msg.c_str());
  msg = msg_of(without(td_keys(s), "blocks.2.self_attn.attn_op.local_attn.proj_l.weight"));
  TW_CHECK_MSG(contains(msg, "blocks.2.self_attn.attn_op.local_attn.proj_l.weight") && contains(msg, "missing"), "%s", msg.c_str());
  Spec conv = s;
  conv.conv_patch = true;
  msg = msg_of(with(td_keys(conv), "patch_embedding.weight", {128, 16, 1, 3, 3}));
  TW_CHECK_MSG(contains(msg, "patch_embedding.weight") && contains(msg, "[128, 16, 1, 3, 3]") && contains(msg, "1x2x2"), "%s",
               msg.c_str());
  msg = msg_of(with(td_keys(s), "patch_embedding.weight", {100, 64}));
  TW_CHECK_MSG(contains(msg, "dim 100") && contains(msg, "128"), "%s", msg.c_str());
  msg = msg_of(without(td_keys(s), "patch_embedding.weight"));
  TW_CHECK_MSG(contains(msg, "no key 'patch_embedding.weight'"), "%s", msg.c_str());
  Spec q = s;
  q.quant = true;
  auto mixed = without(without(td_keys(q), "blocks.2.self_attn.v.int8_weight"), "blocks.2.self_attn.v.scale");
  TensorInfo w;
  w.name = "blocks.2.self_attn.v.weight", w.shape = {128, 128};
  mixed.push_back(w);
  msg = msg_of(mixed);
  TW_CHECK_MSG(contains(msg, "blocks.2.self_attn.v.int8_weight") && contains(msg, "quantized"), "%s", msg.c_str());
}

}  // namespace

int main() {
  fixtures();
  real_sizes();
  inconsistent();
  return finish("dit_keys_test");
}

// torch.save zip checkpoints written by real torch (fixtures + manifest), read without Python.
#include "fixture_manifest.h"

using namespace twtest;
using tw::loader::Checkpoint;

static Checkpoint open_fixture(const std::string& name) { return Checkpoint::open(std::string(kFixtureDir) + name); }

static void every_pth_fixture_matches_torch() {
  size_t files = 0, keys = 0;
  for (const auto& kv : manifest().find("files")->object) {
    const std::string& name = kv.first;
    if (name.size() < 4 || name.compare(name.size() - 4, 4, ".pth") != 0) continue;
    try {
      keys += check_against_manifest(open_fixture(name), name, true);
      ++files;
    } catch (const std::exception& e) {
      TW_CHECK_MSG(false, "%s: %s", name.c_str(), e.what());
    }
  }
  TW_CHECK_MSG(files >= 13, "only %zu .pth fixtures checked", files);
  std::printf("checked %zu .pth fixtures, %zu tensors against torch\n", files, keys);
}

static void views_share_one_storage() {
  Checkpoint ck = open_fixture("views.pth");
  const auto& full = ck.info("full");
  // Offsets are honoured by pointing into the same bytes, not by copying.
  TW_CHECK(ck.info("row").data == static_cast<const float*>(full.data) + 6);
  TW_CHECK(ck.info("tail").data == static_cast<const float*>(full.data) + 10);
  TW_CHECK(ck.info("block").data == ck.info("row").data);
  TW_CHECK(ck.tensor("block", {2, 6}).ptr<float>()[0] == 3.0f);
  // Non-contiguous views keep their strides but cannot become engine tensors.
  TW_CHECK((ck.info("transposed").stride == std::vector<int64_t>{1, 6}));
  std::string msg = expect_throw([&] { ck.tensor("transposed"); });
  TW_CHECK_MSG(contains(msg, "views.pth") && contains(msg, "'transposed'") && contains(msg, "non-contiguous") &&
                   contains(msg, "stride [1, 6]"),
               "%s", msg.c_str());
  expect_throw([&] { ck.tensor("strided"); });
}

static void wrappers_and_prefixes() {
  // {'state_dict': sd, ...}, {'module': sd}, a stream-written archive ("archive/" prefix) and the
  // ZIP64 rewrite all yield the same module state dict.
  Checkpoint base = open_fixture("module.pth");
  for (const char* name : {"wrapped_state_dict.pth", "wrapped_module.pth", "stream.pth", "zip64.pth"}) {
    Checkpoint ck = open_fixture(name);
    TW_CHECK_MSG(ck.names() == base.names(), "%s keys differ from module.pth", name);
  }
  Checkpoint misc = open_fixture("misc.pth");
  TW_CHECK(misc.names() == std::vector<std::string>{"w"});
  TW_CHECK(open_fixture("module.pth").info("table").dtype == tw::DType::I64);
  TW_CHECK(open_fixture("params.pth").has("weight"));
}

static void dit_storage_views() {
  // The DiT fixtures hold dozens of views into one bf16 storage; the quantized one adds int8.
  Checkpoint ck = open_fixture("dit_td_quant.pth");
  TW_CHECK(ck.info("blocks.0.self_attn.q.int8_weight").dtype == tw::DType::I8);
  TW_CHECK(ck.info("blocks.0.self_attn.q.scale").dtype == tw::DType::F32);
  TW_CHECK(ck.info("blocks.0.self_attn.q.bias").dtype == tw::DType::BF16);
  TW_CHECK(ck.tensor("time_projection.1.weight", {768, 128}).dtype == tw::DType::BF16);
}

int main() {
  every_pth_fixture_matches_torch();
  views_share_one_storage();
  wrappers_and_prefixes();
  dit_storage_views();
  return finish("pth_test");
}

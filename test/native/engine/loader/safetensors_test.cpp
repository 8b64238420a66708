// safetensors reading: synthetic files for every dtype and the shard/index paths, then the
// fixtures written by the real safetensors library (values checked against its manifest).
#include <cmath>

#include "fixture_manifest.h"

using namespace twtest;
using tw::DType;
using tw::loader::Checkpoint;

static void every_dtype() {
  // Ordered by element size, as the safetensors writer does, so every tensor is aligned.
  std::vector<StEntry> entries = {
      {"f64", "F64", {}, raw(std::vector<double>{2.25})},
      {"i64", "I64", {1}, raw(std::vector<int64_t>{int64_t(1) << 40})},
      {"f32", "F32", {2, 3}, raw(std::vector<float>{1, 2, 3, 4, 5, 6.5f})},
      {"i32", "I32", {2}, raw(std::vector<int32_t>{-70000, 7})},
      {"empty", "F32", {0, 5}, ""},
      {"f16", "F16", {2}, raw(std::vector<uint16_t>{tw::f32_to_f16(1.5f), tw::f32_to_f16(-2.f)})},
      {"bf16", "BF16", {1, 2}, raw(std::vector<uint16_t>{tw::f32_to_bf16(3.f), tw::f32_to_bf16(-0.5f)})},
      {"i16", "I16", {1}, raw(std::vector<int16_t>{-300})},
      {"i8", "I8", {3}, raw(std::vector<int8_t>{-128, 0, 127})},
      {"u8", "U8", {2}, raw(std::vector<uint8_t>{0, 255})},
      {"b", "BOOL", {3}, raw(std::vector<uint8_t>{1, 0, 1})},
      {"fp8", "F8_E4M3", {2}, raw(std::vector<uint8_t>{tw::f32_to_e4m3(448.f), tw::f32_to_e4m3(-1.f)})},
  };

  std::string path = write_file("all.safetensors", safetensors_bytes(entries, "{\"format\":\"pt\"}"));
  Checkpoint ck = Checkpoint::open(path);
  TW_CHECK(ck.size() == entries.size());
  TW_CHECK(ck.files().size() == 1 && ck.files()[0] == path);
  tw::Tensor f32 = ck.tensor("f32", {2, 3});
  TW_CHECK(f32.dtype == DType::F32 && f32.ptr<float>()[5] == 6.5f);
  TW_CHECK(tw::load_as_f32(ck.tensor("f16"), 1) == -2.f);
  TW_CHECK(tw::load_as_f32(ck.tensor("bf16"), 0) == 3.f);
  TW_CHECK(ck.info("f64").shape.empty() && ck.tensor("f64").ptr<double>()[0] == 2.25);
  TW_CHECK(ck.tensor("i8").ptr<int8_t>()[0] == -128 && ck.info("i8").dtype == DType::I8);
  TW_CHECK(ck.tensor("u8").ptr<uint8_t>()[1] == 255);
  TW_CHECK(ck.tensor("i16").ptr<int16_t>()[0] == -300);
  TW_CHECK(ck.tensor("i32").ptr<int32_t>()[0] == -70000);
  TW_CHECK(ck.tensor("i64").ptr<int64_t>()[0] == int64_t(1) << 40);
  TW_CHECK(ck.info("b").dtype == DType::Bool && ck.tensor("b").ptr<uint8_t>()[2] == 1);
  TW_CHECK(ck.info("fp8").dtype == DType::F8E4M3 && tw::e4m3_to_f32(ck.tensor("fp8").ptr<uint8_t>()[0]) == 448.f);
  TW_CHECK(ck.info("empty").numel() == 0);

  // A hand-made file with a misaligned float is readable through info() but not as a Tensor.
  std::string odd = write_file("odd.safetensors", safetensors_bytes({{"u", "U8", {1}, std::string(1, '\x07')},
                                                                     {"w", "F32", {1}, raw(std::vector<float>{1})}}));
  Checkpoint oddck = Checkpoint::open(odd);
  std::string msg = expect_throw([&] { oddck.tensor("w"); });
  TW_CHECK_MSG(contains(msg, "odd.safetensors") && contains(msg, "'w'") && contains(msg, "aligned"), "%s", msg.c_str());
}

static void shards_and_index() {
  write_file("m-00001-of-00002.safetensors",
             safetensors_bytes({{"a.weight", "F32", {2}, raw(std::vector<float>{1, 2})}}));
  write_file("m-00002-of-00002.safetensors",
             safetensors_bytes({{"b.weight", "F32", {1}, raw(std::vector<float>{3})},
                                {"b.bias", "F32", {1}, raw(std::vector<float>{4})}}));
  std::string index = write_file("m.safetensors.index.json",
                                 "{\"metadata\": {\"total_size\": 16}, \"weight_map\": {\"a.weight\": "
                                 "\"m-00001-of-00002.safetensors\", \"b.weight\": \"m-00002-of-00002.safetensors\", "
                                 "\"b.bias\": \"m-00002-of-00002.safetensors\"}}");
  Checkpoint ck = Checkpoint::open(index);
  TW_CHECK(ck.size() == 3);
  TW_CHECK(ck.files().size() == 2);
  TW_CHECK(ck.tensor("b.bias").ptr<float>()[0] == 4.f);
  TW_CHECK(ck.info("a.weight").file == scratch_dir() + "/m-00001-of-00002.safetensors");

  // Shards passed explicitly merge the same way.
  Checkpoint both = Checkpoint::open(std::vector<std::string>{scratch_dir() + "/m-00001-of-00002.safetensors",
                                                              scratch_dir() + "/m-00002-of-00002.safetensors"});
  TW_CHECK(both.size() == 3);

  // A key in two files names both.
  write_file("dup.safetensors", safetensors_bytes({{"a.weight", "F32", {1}, raw(std::vector<float>{9})}}));
  std::string msg = expect_throw([&] {
    Checkpoint::open(std::vector<std::string>{scratch_dir() + "/m-00001-of-00002.safetensors",
                                              scratch_dir() + "/dup.safetensors"});
  });
  TW_CHECK_MSG(contains(msg, "a.weight") && contains(msg, "m-00001-of-00002") && contains(msg, "dup.safetensors"),
               "%s", msg.c_str());

  // The index promises a key the shard lacks.
  std::string bad = write_file("bad.safetensors.index.json",
                               "{\"weight_map\": {\"a.weight\": \"m-00001-of-00002.safetensors\", "
                               "\"zzz\": \"m-00001-of-00002.safetensors\"}}");
  msg = expect_throw([&] { Checkpoint::open(bad); });
  TW_CHECK_MSG(contains(msg, "bad.safetensors.index.json") && contains(msg, "'zzz'"), "%s", msg.c_str());
}

static void header_errors() {
  std::string good = safetensors_bytes({{"x", "F32", {2}, raw(std::vector<float>{1, 2})}});
  std::string path = write_file("short.safetensors", good.substr(0, good.size() - 1));
  std::string msg = expect_throw([&] { Checkpoint::open(path); });
  TW_CHECK_MSG(contains(msg, "short.safetensors") && contains(msg, "'x'"), "%s", msg.c_str());

  path = write_file("dtype.safetensors", safetensors_bytes({{"x", "C64", {1}, std::string(8, '\0')}}));
  msg = expect_throw([&] { Checkpoint::open(path); });
  TW_CHECK_MSG(contains(msg, "C64") && contains(msg, "'x'"), "%s", msg.c_str());

  path = write_file("span.safetensors", safetensors_bytes({{"x", "F32", {3}, std::string(8, '\0')}}));
  msg = expect_throw([&] { Checkpoint::open(path); });
  TW_CHECK_MSG(contains(msg, "expected 12"), "%s", msg.c_str());
}

static void fixtures_match_torch() {
  for (const char* name : {"single.safetensors", "sharded.safetensors.index.json"}) {
    try {
      Checkpoint ck = Checkpoint::open(std::string(kFixtureDir) + name);
      TW_CHECK_MSG(check_against_manifest(ck, name, false) > 0, "%s: nothing checked", name);
    } catch (const std::exception& e) {
      TW_CHECK_MSG(false, "%s: %s", name, e.what());
    }
  }
  Checkpoint sharded = Checkpoint::open(std::string(kFixtureDir) + "sharded.safetensors.index.json");
  TW_CHECK(sharded.files().size() == 2);
  TW_CHECK(sharded.info("head.w").file == std::string(kFixtureDir) + "sharded-00002-of-00002.safetensors");
}

int main() {
  fixtures_match_torch();
  every_dtype();
  shards_and_index();
  header_errors();
  return finish("safetensors_test");
}

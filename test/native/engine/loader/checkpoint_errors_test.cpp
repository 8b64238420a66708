// Every way a checkpoint can be wrong gives a tw::Error whose message names the file, the key,
// and what was expected versus found.
#include "fixture_manifest.h"

using namespace twtest;
using tw::loader::Checkpoint;

static std::string fixture(const std::string& name) { return std::string(kFixtureDir) + name; }

static void check_msg(const std::string& msg, std::initializer_list<const char*> parts) {
  if (std::getenv("TW_SHOW_ERRORS")) std::printf("%s\n", msg.c_str());
  for (const char* p : parts) TW_CHECK_MSG(contains(msg, p), "message lacks \"%s\": %s", p, msg.c_str());
}

static void unreadable_files() {
  check_msg(expect_throw([] { Checkpoint::open(fixture("no-such-file.pth")); }), {"no-such-file.pth", "cannot open"});
  check_msg(expect_throw([] { Checkpoint::open(kFixtureDir); }), {"checkpoints/", "not a regular file"});
  check_msg(expect_throw([] { Checkpoint::open(write_file("empty.pth", "")); }), {"empty.pth", "not a checkpoint", "empty file"});
  check_msg(expect_throw([] { Checkpoint::open(write_file("notes.txt", "hello, world")); }),
            {"notes.txt", "not a checkpoint", "68 65 6c 6c"});
  check_msg(expect_throw([] { Checkpoint::open(write_file("legacy.pt", std::string("\x80\x02\x8a\x0a", 4) + "xxxx")); }),
            {"legacy.pt", "legacy", "torch >= 1.6"});
  check_msg(expect_throw([] { Checkpoint::open(std::vector<std::string>{}); }), {"no checkpoint paths"});
}

static void truncated_files() {
  std::string bytes = read_bytes(fixture("dtypes.pth"));
  std::string path = write_file("dtypes-half.pth", bytes.substr(0, bytes.size() / 2));
  check_msg(expect_throw([&] { Checkpoint::open(path); }), {"dtypes-half.pth", "truncated"});
  // Cut inside the central directory: the end record survives only in the original.
  path = write_file("dtypes-cut.pth", bytes.substr(0, bytes.size() - 30));
  check_msg(expect_throw([&] { Checkpoint::open(path); }), {"dtypes-cut.pth"});

  bytes = read_bytes(fixture("single.safetensors"));
  path = write_file("single-cut.safetensors", bytes.substr(0, bytes.size() - 3));
  check_msg(expect_throw([&] { Checkpoint::open(path); }), {"single-cut.safetensors", "truncated"});
  path = write_file("header-cut.safetensors", bytes.substr(0, 40));
  check_msg(expect_throw([&] { Checkpoint::open(path); }), {"header-cut.safetensors", "truncated"});
}

static void corrupt_archives() {
  // A compressed data.pkl (re-zipped checkpoint) is refused by name, not misread.
  std::string bytes = read_bytes(fixture("module.pth"));
  std::string needle = std::string("PK\x01\x02", 4);
  size_t at = bytes.find(needle);
  TW_CHECK(at != std::string::npos && bytes.compare(at + 46, 15, "module/data.pkl") == 0);
  bytes[at + 10] = 8;  // method: deflate
  std::string path = write_file("deflated.pth", bytes);
  check_msg(expect_throw([&] { Checkpoint::open(path); }), {"deflated.pth", "module/data.pkl", "compressed"});

  // A storage record that is shorter than its tensor needs.
  bytes = read_bytes(fixture("module.pth"));
  std::string pkl_name = "module/data/1";
  for (at = bytes.find(needle); at != std::string::npos; at = bytes.find(needle, at + 4))
    if (bytes.compare(at + 46, pkl_name.size(), pkl_name) == 0 && bytes[at + 46 + pkl_name.size()] != '/') break;
  TW_CHECK(at != std::string::npos);
  uint32_t size;
  std::memcpy(&size, bytes.data() + at + 20, 4);
  size -= 4;
  std::memcpy(&bytes[at + 20], &size, 4);
  std::memcpy(&bytes[at + 24], &size, 4);
  path = write_file("short-storage.pth", bytes);
  check_msg(expect_throw([&] { Checkpoint::open(path); }), {"short-storage.pth", "storage '1'", "bytes"});

  // JSON nested past the depth limit is refused without recursing into it.
  std::string deep(5000, '[');
  uint64_t n = deep.size() + 5;
  std::string st(reinterpret_cast<const char*>(&n), 8);
  path = write_file("deep.safetensors", st + "{\"x\":" + deep);
  check_msg(expect_throw([&] { Checkpoint::open(path); }), {"deep.safetensors", "nesting deeper"});
}

static void missing_keys_and_shapes() {
  Checkpoint ck = Checkpoint::open(fixture("dtypes.pth"));
  check_msg(expect_throw([&] { ck.info("nope"); }), {"dtypes.pth", "no tensor 'nope'"});
  check_msg(expect_throw([&] { ck.tensor("fp32", {3, 2}); }),
            {"dtypes.pth", "key 'fp32'", "shape [2, 3]", "expected [3, 2]"});
  // Asking for `.weight` in a quantized file points at what is there instead.
  Checkpoint q = Checkpoint::open(fixture("dit_td_quant.pth"));
  check_msg(expect_throw([&] { q.tensor("blocks.0.self_attn.k.weight"); }),
            {"dit_td_quant.pth", "'blocks.0.self_attn.k.weight'", "blocks.0.self_attn.k.int8_weight"});
  check_msg(expect_throw([&] { ck.rename("fp32", "fp16"); }), {"fp32", "fp16", "already exists"});
  check_msg(expect_throw([&] { ck.rename("absent", "x"); }), {"no tensor 'absent'"});
  check_msg(expect_throw([&] { ck.set_shape("fp32", {7}); }), {"dtypes.pth", "'fp32'", "[2, 3]", "[7]"});
  check_msg(expect_throw([&] { ck.erase("absent"); }), {"no tensor 'absent'"});
  ck.set_shape("fp32", {6});
  TW_CHECK(ck.tensor("fp32", {6}).numel() == 6);
  ck.rename("fp32", "renamed");
  TW_CHECK(ck.has("renamed") && !ck.has("fp32"));
  ck.erase("renamed");
  TW_CHECK(!ck.has("renamed"));

  // An index naming a shard that is not there.
  std::string index = write_file("lost.safetensors.index.json", "{\"weight_map\": {\"a\": \"lost-00001.safetensors\"}}");
  check_msg(expect_throw([&] { Checkpoint::open(index); }), {"lost.safetensors.index.json", "lost-00001.safetensors", "cannot open"});
}

int main() {
  unreadable_files();
  truncated_files();
  corrupt_archives();
  missing_keys_and_shapes();
  return finish("checkpoint_errors_test");
}

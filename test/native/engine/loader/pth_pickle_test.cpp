// Hand-written data.pkl streams for the pickle paths the torch 2.11 fixtures do not take:
// 7-argument _rebuild_tensor_v2, protocol-4 framing opcodes, memoized storages, cyclic values,
// and the errors for everything outside the subset.
#include "loader_test_util.h"
#include "loader/checkpoint.h"
#include "tw_test.h"

using namespace twtest;
using tw::loader::Checkpoint;

namespace {

std::string str(const std::string& s) {  // BINUNICODE
  uint32_t n = uint32_t(s.size());
  return "X" + std::string(reinterpret_cast<const char*>(&n), 4) + s;
}
std::string short_str(const std::string& s) { return "\x8c" + std::string(1, char(s.size())) + s; }  // SHORT_BINUNICODE
std::string i1(int v) { return "K" + std::string(1, char(v)); }
std::string global(const std::string& mod, const std::string& name) { return "c" + mod + "\n" + name + "\n"; }
std::string empty_ordered_dict() { return global("collections", "OrderedDict") + ")R"; }
std::string storage(const std::string& cls, const std::string& key, int numel) {
  return "(" + str("storage") + global("torch", cls) + str(key) + str("cpu") + i1(numel) + "tQ";
}
// _rebuild_tensor_v2(storage, offset, (a, b), (b, 1), False, OrderedDict()[, {}])
std::string tensor2d(const std::string& storage_ops, int offset, int a, int b, bool metadata) {
  return global("torch._utils", "_rebuild_tensor_v2") + "(" + storage_ops + i1(offset) + i1(a) + i1(b) + "\x86" + i1(b) +
         i1(1) + "\x86" + "\x89" + empty_ordered_dict() + (metadata ? "}" : "") + "tR";
}
std::string pth(const std::string& pkl, const std::string& data0) {
  return zip_stored({{"arc/data.pkl", pkl}, {"arc/byteorder", "little"}, {"arc/data/0", data0}, {"arc/version", "3\n"}});
}
std::string floats(std::initializer_list<float> v) { return raw(std::vector<float>(v)); }

std::string subset_archive;

void subset_paths() {
  std::string pkl = std::string("\x80\x04") + "\x95" + std::string(8, '\0') +  // PROTO 4, FRAME
                    "}\x94(" +                                                   // EMPTY_DICT, MEMOIZE, MARK
                    short_str("w") + tensor2d(storage("FloatStorage", "0", 6) + "\x94", 0, 2, 3, true) +
                    short_str("tail") +
                    // STACK_GLOBAL for the parameter wrapper; the storage comes back from the memo.
                    short_str("torch._utils") + short_str("_rebuild_parameter") + "\x93" + "(" +
                    global("torch._utils", "_rebuild_tensor_v2") + "(" + "h\x01" + i1(4) + i1(2) + "\x85" + i1(1) + "\x85" +
                    "\x89" + empty_ordered_dict() + "tR" + "\x88" + empty_ordered_dict() + "tR" +
                    short_str("lr") + "G" + std::string("\x3f\xd0\x00\x00\x00\x00\x00\x00", 8) +  // BINFLOAT 0.25
                    short_str("step") + std::string("\x8a\x02\x00\x80", 4) +                                  // LONG1 -32768
                    short_str("loop") + "]\x94" "h\x02" "a" +                                         // a list holding itself
                    "u.";
  subset_archive = pth(pkl, floats({1, 2, 3, 4, 5, 6}));
  Checkpoint ck = Checkpoint::open(write_file("subset.pth", subset_archive));
  TW_CHECK(ck.size() == 2);
  TW_CHECK(ck.tensor("w", {2, 3}).ptr<float>()[5] == 6.f);
  TW_CHECK(ck.tensor("tail", {2}).ptr<float>()[0] == 5.f);
}

void expect_error(const std::string& name, const std::string& pkl, const std::string& data0,
                  std::initializer_list<const char*> parts) {
  std::string path = write_file(name, pth(pkl, data0));
  std::string msg = expect_throw([&] { Checkpoint::open(path); });
  for (const char* p : parts) TW_CHECK_MSG(contains(msg, p), "%s: message lacks \"%s\": %s", name.c_str(), p, msg.c_str());
}

void outside_the_subset() {
  const std::string six = floats({1, 2, 3, 4, 5, 6});
  expect_error("int-opcode.pth", "\x80\x02}(" + str("x") + "I5\nu.", six, {"int-opcode.pth", "arc/data.pkl", "opcode 0x49"});
  expect_error("complex.pth", "\x80\x02}(" + str("x") + tensor2d(storage("ComplexFloatStorage", "0", 3), 0, 1, 3, false) + "u.",
               six, {"storage '0'", "torch.ComplexFloatStorage"});
  expect_error("past-end.pth", "\x80\x02}(" + str("x") + tensor2d(storage("FloatStorage", "0", 6), 2, 2, 3, false) + "u.",
               six, {"past-end.pth", "reaches past its storage of 6 float32"});
  expect_error("claims.pth", "\x80\x02}(" + str("x") + tensor2d(storage("FloatStorage", "0", 9), 0, 2, 3, false) + "u.",
               six, {"claims 9 float32 elements", "24 bytes"});
  expect_error("no-record.pth", "\x80\x02}(" + str("x") + tensor2d(storage("FloatStorage", "7", 6), 0, 2, 3, false) + "u.",
               six, {"arc/data/7"});
  expect_error("list-root.pth", "\x80\x02]" + std::string("."), six, {"list-root.pth", "expected a state dict"});
  expect_error("no-tensors.pth", "\x80\x02}(" + str("epoch") + i1(3) + "u.", six, {"no tensors", "epoch"});
  expect_error("stack.pth", "\x80\x02R.", six, {"stack"});
  expect_error("eof.pth", "\x80\x02}(" + str("x"), six, {"ends early"});
  expect_error("qtensor.pth", "\x80\x02}(" + str("x") + global("torch._utils", "_rebuild_qtensor") + ")Ru.", six,
               {"_rebuild_qtensor", "dense"});
}

// The fixtures' fuzzing never meets these opcodes; byte-flip the hand-written pickle itself.
void mutated_subset() {
  std::mt19937_64 rng(7);
  const size_t pkl_at = subset_archive.find("\x80\x04");
  size_t ok = 0, rejected = 0;
  for (int m = 0; m < 1500; ++m) {
    std::string bytes = subset_archive;
    for (int f = 1 + int(rng() % 3); f > 0; --f) bytes[pkl_at + rng() % 330] = char(rng());
    try {
      Checkpoint::open(write_file("subset-mutant.pth", bytes));
      ++ok;
    } catch (const tw::Error&) {
      ++rejected;
    } catch (const std::exception& e) {
      TW_CHECK_MSG(false, "mutant %d: non-tw::Error exception %s", m, e.what());
    }
  }
  TW_CHECK(ok > 0 && rejected > 0);
}

}  // namespace

int main() {
  subset_paths();
  outside_the_subset();
  mutated_subset();
  return finish("pth_pickle_test");
}

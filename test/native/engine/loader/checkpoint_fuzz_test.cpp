// Seeded mutation fuzzing of the checkpoint readers: every truncation or byte-flipped mutant of
// every fixture must either load, with every view inside its mapping, or throw tw::Error. A crash,
// a sanitizer report or any other exception type fails the test.
#include <chrono>

#include "fixture_manifest.h"

using namespace twtest;
using tw::loader::Checkpoint;

namespace {

int64_t extent_bytes(const tw::loader::TensorInfo& t) {
  if (t.numel() == 0) return 0;
  int64_t last = 0;
  for (size_t d = 0; d < t.shape.size(); ++d) last += (t.shape[d] - 1) * t.stride[d];
  return (last + 1) * int64_t(tw::dtype_size(t.dtype));
}

struct Stats {
  size_t loaded = 0, rejected = 0, bad = 0;
};

// Loads `path`; checks that each view lies inside one of the checkpoint's mappings and touches its
// first and last byte (so a sanitizer sees any stray pointer).
void try_load(const std::string& path, const std::string& what, Stats& st) {
  try {
    Checkpoint ck = Checkpoint::open(path);
    volatile uint8_t sink = 0;
    for (const auto& name : ck.names()) {
      const auto& t = ck.info(name);
      int64_t n = extent_bytes(t);
      const uint8_t* p = static_cast<const uint8_t*>(t.data);
      bool inside = n == 0;
      const uintptr_t at = reinterpret_cast<uintptr_t>(p);
      for (const auto& m : ck.mappings()) {
        const uintptr_t lo = reinterpret_cast<uintptr_t>(m->data());
        if (at >= lo && at - lo <= m->size() && uint64_t(n) <= m->size() - (at - lo)) inside = true;
      }
      if (!inside) {
        ++st.bad;
        TW_CHECK_MSG(false, "%s: view '%s' escapes its mapping", what.c_str(), name.c_str());
        continue;
      }
      if (n) sink = sink + p[0] + p[n - 1];
    }
    ++st.loaded;
  } catch (const tw::Error&) {
    ++st.rejected;
  } catch (const std::exception& e) {
    ++st.bad;
    TW_CHECK_MSG(false, "%s: non-tw::Error exception: %s", what.c_str(), e.what());
  }
}

}  // namespace

int main() {
  auto start = std::chrono::steady_clock::now();
  // TW_FUZZ_SCALE=k runs k times the mutants (for a longer local or sanitizer run).
  const int scale = std::getenv("TW_FUZZ_SCALE") ? std::max(1, std::atoi(std::getenv("TW_FUZZ_SCALE"))) : 1;
  std::mt19937_64 rng(20261126);
  // The parsers' inputs sit at the ends of each file (zip: data.pkl first, central directory last;
  // safetensors: header first), so half of the mutations aim there.
  const struct { const char* name; int mutants; } fixtures[] = {
      {"dtypes.pth", 400},   {"views.pth", 300},    {"module.pth", 200},     {"params.pth", 100},
      {"misc.pth", 300},     {"stream.pth", 100},   {"zip64.pth", 300},      {"wrapped_state_dict.pth", 100},
      {"dit_td_quant.pth", 200}, {"single.safetensors", 300}, {"sharded-00001-of-00002.safetensors", 100},
  };
  Stats st;
  size_t mutants = 0;
  for (const auto& fx : fixtures) {
    const std::string original = read_bytes(std::string(kFixtureDir) + fx.name);
    TW_CHECK_MSG(!original.empty(), "fixture %s missing", fx.name);
    if (original.empty()) continue;
    const std::string path = scratch_dir() + "/mutant-" + fx.name;
    const size_t n = original.size();

    // ~200 truncation points: evenly spread plus every length near both ends.
    std::vector<size_t> cuts;
    for (size_t k = 0; k < 140; ++k) cuts.push_back(n * k / 140);
    for (size_t k = 1; k <= 30 && k < n; ++k) cuts.push_back(k), cuts.push_back(n - k);
    for (size_t cut : cuts) {
      write_file("mutant-" + std::string(fx.name), original.substr(0, cut));
      try_load(path, std::string(fx.name) + " cut at " + std::to_string(cut), st);
      ++mutants;
    }

    const size_t hot = std::min<size_t>(n, 16384);
    for (int m = 0; m < fx.mutants * scale; ++m) {
      std::string bytes = original;
      int flips = 1 + int(rng() % 6);
      for (int f = 0; f < flips; ++f) {
        size_t at;
        switch (rng() % 3) {
          case 0: at = rng() % hot; break;
          case 1: at = n - 1 - rng() % std::min<size_t>(n, 4096); break;
          default: at = rng() % n;
        }
        switch (rng() % 4) {
          case 0: bytes[at] = char(rng()); break;
          case 1: bytes[at] = char(uint8_t(bytes[at]) ^ (1u << (rng() % 8))); break;
          case 2: bytes[at] = char(0xff); break;
          default: bytes[at] = 0;
        }
      }
      write_file("mutant-" + std::string(fx.name), bytes);
      try_load(path, std::string(fx.name) + " mutant " + std::to_string(m), st);
      ++mutants;
    }
  }
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("%zu mutants: %zu loaded, %zu rejected with tw::Error, %zu bad (%.1f s)\n", mutants, st.loaded,
              st.rejected, st.bad, secs);
  TW_CHECK(st.rejected > 0 && st.loaded > 0);
  return finish("checkpoint_fuzz_test");
}

// Helpers shared by the loader tests: scratch files and a safetensors writer for synthetic cases
// (the committed fixtures come from real torch/safetensors; see scripts/golden/make_checkpoint_fixtures.py).
#pragma once

#include <stdlib.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

namespace twtest {

inline std::string scratch_dir() {
  // tmpfs when there is one: the fuzz test writes thousands of mutants.
  static std::string dir = [] {
    char shm[] = "/dev/shm/tw-loader-test-XXXXXX";
    if (const char* d = mkdtemp(shm)) return std::string(d);
    char tmp[] = "/tmp/tw-loader-test-XXXXXX";
    const char* d = mkdtemp(tmp);
    return std::string(d ? d : "/tmp");
  }();
  static const bool cleanup = [] {
    std::atexit([] {
      std::error_code ec;
      if (dir != "/tmp") std::filesystem::remove_all(dir, ec);
    });
    return true;
  }();
  (void)cleanup;
  return dir;
}

inline std::string write_file(const std::string& name, const std::string& bytes) {
  std::string path = scratch_dir() + "/" + name;
  std::ofstream f(path, std::ios::binary);
  f.write(bytes.data(), std::streamsize(bytes.size()));
  return path;
}

inline std::string read_bytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

struct StEntry {
  std::string name, dtype;
  std::vector<int64_t> shape;
  std::string bytes;
};

// Lays entries out like the safetensors writer: header padded with spaces to 8 bytes, data packed.
inline std::string safetensors_bytes(const std::vector<StEntry>& entries, const std::string& metadata = "") {
  std::string header = "{";
  if (!metadata.empty()) header += "\"__metadata__\":" + metadata;
  size_t off = 0;
  std::string data;
  for (const auto& e : entries) {
    if (header.size() > 1) header += ",";
    header += "\"" + e.name + "\":{\"dtype\":\"" + e.dtype + "\",\"shape\":[";
    for (size_t i = 0; i < e.shape.size(); ++i) header += (i ? "," : "") + std::to_string(e.shape[i]);
    header += "],\"data_offsets\":[" + std::to_string(off) + "," + std::to_string(off + e.bytes.size()) + "]}";
    off += e.bytes.size();
    data += e.bytes;
  }
  header += "}";
  while (header.size() % 8) header += ' ';
  uint64_t n = header.size();
  std::string out(reinterpret_cast<const char*>(&n), 8);
  return out + header + data;
}

template <class T>
std::string raw(const std::vector<T>& v) {
  return std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(T));
}

// A stored (uncompressed) zip with 64-byte aligned data, laid out like torch.save's archives;
// CRCs are left zero (the loader, like torch's mmap path, does not check them).
inline std::string zip_stored(const std::vector<std::pair<std::string, std::string>>& entries) {
  auto u16 = [](std::string& o, uint16_t v) { o.append(reinterpret_cast<const char*>(&v), 2); };
  auto u32 = [](std::string& o, uint32_t v) { o.append(reinterpret_cast<const char*>(&v), 4); };
  std::string out, central;
  for (const auto& e : entries) {
    uint32_t offset = uint32_t(out.size());
    size_t pad = (64 - (out.size() + 30 + e.first.size() + 4) % 64) % 64;
    u32(out, 0x04034b50), u16(out, 20), u16(out, 0), u16(out, 0), u16(out, 0), u16(out, 0), u32(out, 0);
    u32(out, uint32_t(e.second.size())), u32(out, uint32_t(e.second.size()));
    u16(out, uint16_t(e.first.size())), u16(out, uint16_t(pad + 4));
    out += e.first;
    u16(out, 0x4246), u16(out, uint16_t(pad));
    out += std::string(pad, 'Z') + e.second;
    u32(central, 0x02014b50), u16(central, 20), u16(central, 20), u16(central, 0), u16(central, 0);
    u16(central, 0), u16(central, 0), u32(central, 0);
    u32(central, uint32_t(e.second.size())), u32(central, uint32_t(e.second.size()));
    u16(central, uint16_t(e.first.size())), u16(central, 0), u16(central, 0), u16(central, 0), u16(central, 0);
    u32(central, 0), u32(central, offset);
    central += e.first;
  }
  uint32_t cd_offset = uint32_t(out.size());
  out += central;
  u32(out, 0x06054b50), u16(out, 0), u16(out, 0), u16(out, uint16_t(entries.size())), u16(out, uint16_t(entries.size()));
  u32(out, uint32_t(central.size())), u32(out, cd_offset), u16(out, 0);
  return out;
}

inline bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

}  // namespace twtest

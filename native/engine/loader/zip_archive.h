// Read-only view of a stored (uncompressed) ZIP archive as torch.save writes it: ZIP64 end record
// and locator, 0x0001 extra fields, 64-byte aligned record data. Every offset is checked against
// the mapping; a malformed archive throws tw::Error naming the file.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "loader/checkpoint.h"

namespace tw::loader {

class ZipArchive {
 public:
  explicit ZipArchive(std::shared_ptr<MappedFile> file);

  struct Record {
    const uint8_t* data = nullptr;
    uint64_t size = 0;
  };
  // nullptr when absent; throws when present but compressed or out of bounds.
  const Record* find(const std::string& name) const;
  // The top folder every entry lives under ("archive", or the file stem torch used).
  const std::string& prefix() const { return prefix_; }
  const std::string& path() const { return file_->path(); }

 private:
  struct Entry {
    uint64_t local_offset = 0;
    uint64_t size = 0;
    uint64_t uncompressed = 0;
    uint16_t method = 0;
    mutable Record record;
    mutable bool resolved = false;
  };
  std::shared_ptr<MappedFile> file_;
  std::map<std::string, Entry> entries_;
  std::string prefix_;

  [[noreturn]] void fail(const std::string& why) const;
  uint16_t u16(uint64_t off) const;
  uint32_t u32(uint64_t off) const;
  uint64_t u64(uint64_t off) const;
};

}  // namespace tw::loader

#include "loader/zip_archive.h"

#include <cstring>

namespace tw::loader {

namespace {
constexpr uint32_t kLocalSig = 0x04034b50;
constexpr uint32_t kCentralSig = 0x02014b50;
constexpr uint32_t kEndSig = 0x06054b50;
constexpr uint32_t kEnd64Sig = 0x06064b50;
constexpr uint32_t kLocator64Sig = 0x07064b50;
constexpr uint64_t kMaxComment = 0xffff;
}  // namespace

void ZipArchive::fail(const std::string& why) const {
  throw Error(file_->path() + ": corrupt or truncated PyTorch zip checkpoint: " + why);
}

uint16_t ZipArchive::u16(uint64_t off) const {
  if (off > file_->size() || file_->size() - off < 2) fail("read of 2 bytes at offset " + std::to_string(off) + " past the end");
  uint16_t v;
  std::memcpy(&v, file_->data() + off, 2);
  return v;
}
uint32_t ZipArchive::u32(uint64_t off) const {
  if (off > file_->size() || file_->size() - off < 4) fail("read of 4 bytes at offset " + std::to_string(off) + " past the end");
  uint32_t v;
  std::memcpy(&v, file_->data() + off, 4);
  return v;
}
uint64_t ZipArchive::u64(uint64_t off) const {
  if (off > file_->size() || file_->size() - off < 8) fail("read of 8 bytes at offset " + std::to_string(off) + " past the end");
  uint64_t v;
  std::memcpy(&v, file_->data() + off, 8);
  return v;
}

ZipArchive::ZipArchive(std::shared_ptr<MappedFile> file) : file_(std::move(file)) {
  const uint64_t size = file_->size();
  if (size < 22) fail("file is " + std::to_string(size) + " bytes, too small for a zip end record");

  // The end record sits in the last 22 + comment bytes; scan back for its signature.
  uint64_t eocd = UINT64_MAX;
  uint64_t lowest = size - 22 > kMaxComment ? size - 22 - kMaxComment : 0;
  for (uint64_t off = size - 22 + 1; off-- > lowest;) {
    if (u32(off) == kEndSig) { eocd = off; break; }
  }
  if (eocd == UINT64_MAX) fail("no end-of-central-directory record (file truncated?)");

  uint64_t count = u16(eocd + 10);
  uint64_t cd_size = u32(eocd + 12);
  uint64_t cd_offset = u32(eocd + 16);
  bool needs64 = count == 0xffff || cd_size == 0xffffffff || cd_offset == 0xffffffff;
  if (eocd >= 20 && u32(eocd - 20) == kLocator64Sig) {
    uint64_t end64 = u64(eocd - 20 + 8);
    if (u32(end64) != kEnd64Sig) fail("ZIP64 locator points at offset " + std::to_string(end64) + ", which holds no ZIP64 end record");
    count = u64(end64 + 32);
    cd_size = u64(end64 + 40);
    cd_offset = u64(end64 + 48);
  } else if (needs64) {
    fail("end record asks for ZIP64 but there is no ZIP64 locator");
  }
  if (cd_offset > size || cd_size > size - cd_offset)
    fail("central directory [" + std::to_string(cd_offset) + ", +" + std::to_string(cd_size) + ") lies outside the " +
         std::to_string(size) + "-byte file");
  if (count > cd_size / 46) fail("central directory claims " + std::to_string(count) + " entries in " + std::to_string(cd_size) + " bytes");

  uint64_t pos = cd_offset;
  const uint64_t cd_end = cd_offset + cd_size;
  for (uint64_t i = 0; i < count; ++i) {
    if (cd_end - pos < 46 || u32(pos) != kCentralSig) fail("central directory entry " + std::to_string(i) + " is malformed");
    Entry e;
    e.method = u16(pos + 10);
    e.size = u32(pos + 20);
    e.uncompressed = u32(pos + 24);
    uint64_t name_len = u16(pos + 28), extra_len = u16(pos + 30), comment_len = u16(pos + 32);
    e.local_offset = u32(pos + 42);
    if (cd_end - pos - 46 < name_len + extra_len + comment_len) fail("central directory entry " + std::to_string(i) + " overruns the directory");
    std::string name(reinterpret_cast<const char*>(file_->data() + pos + 46), name_len);
    // ZIP64 extra: the 64-bit values follow in this order, present only where the 32-bit field is all ones.
    uint64_t x = pos + 46 + name_len, x_end = x + extra_len;
    while (x_end - x >= 4) {
      uint16_t id = u16(x), n = u16(x + 2);
      if (x_end - x - 4 < n) fail("extra field of '" + name + "' overruns its entry");
      if (id == 0x0001) {
        uint64_t y = x + 4, y_end = y + n;
        auto take = [&](uint64_t* field) {
          if (y_end - y < 8) fail("ZIP64 extra field of '" + name + "' is too short");
          *field = u64(y);
          y += 8;
        };
        if (e.uncompressed == 0xffffffff) take(&e.uncompressed);
        if (e.size == 0xffffffff) take(&e.size);
        if (e.local_offset == 0xffffffff) take(&e.local_offset);
      }
      x += 4 + n;
    }
    if (i == 0) prefix_ = name.substr(0, name.find('/'));
    entries_[name] = e;
    pos += 46 + name_len + extra_len + comment_len;
  }
  if (entries_.empty()) fail("the archive has no entries");
}

const ZipArchive::Record* ZipArchive::find(const std::string& name) const {
  auto it = entries_.find(name);
  if (it == entries_.end()) return nullptr;
  const Entry& e = it->second;
  if (e.resolved) return &e.record;
  if (e.method != 0)
    fail("entry '" + name + "' is compressed (method " + std::to_string(e.method) +
         "); torch.save stores entries uncompressed: re-save the checkpoint with torch.save");
  if (e.size != e.uncompressed) fail("stored entry '" + name + "' has different compressed and uncompressed sizes");
  // Data begins after the LOCAL header's own name and extra fields (torch pads the local extra
  // field to align data to 64 bytes; the central directory's extra length differs).
  if (u32(e.local_offset) != kLocalSig) fail("entry '" + name + "' has no local header at offset " + std::to_string(e.local_offset));
  uint64_t start = e.local_offset + 30 + u16(e.local_offset + 26) + u16(e.local_offset + 28);
  if (start > file_->size() || e.size > file_->size() - start)
    fail("entry '" + name + "' ([" + std::to_string(start) + ", +" + std::to_string(e.size) + ")) lies outside the " +
         std::to_string(file_->size()) + "-byte file");
  e.record.data = file_->data() + start;
  e.record.size = e.size;
  e.resolved = true;
  return &e.record;
}

}  // namespace tw::loader

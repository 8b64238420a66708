#include "loader/checkpoint.h"

#include <cstring>
#include <set>
#include <sstream>

#include "loader/formats.h"
#include "loader/json.h"

namespace tw::loader {

std::string shape_string(const std::vector<int64_t>& shape) {
  std::ostringstream s;
  s << '[';
  for (size_t i = 0; i < shape.size(); ++i) s << (i ? ", " : "") << shape[i];
  s << ']';
  return s.str();
}

int64_t checked_numel(const std::vector<int64_t>& shape) {
  // Zero dims count as 1 for the overflow check so that contiguous strides always fit int64.
  int64_t nonzero = 1;
  bool empty = false;
  for (int64_t d : shape) {
    if (d < 0 || !mul_ok(nonzero, d ? d : 1, &nonzero)) return -1;
    empty |= d == 0;
  }
  return empty ? 0 : nonzero;
}

std::vector<int64_t> contiguous_strides(const std::vector<int64_t>& shape) {
  std::vector<int64_t> stride(shape.size(), 1);
  for (size_t i = shape.size(); i-- > 1;) stride[i - 1] = stride[i] * (shape[i] ? shape[i] : 1);
  return stride;
}

int64_t TensorInfo::numel() const { return checked_numel(shape); }

bool TensorInfo::contiguous() const {
  if (stride.size() != shape.size()) return false;
  int64_t expect = 1;
  for (size_t i = shape.size(); i-- > 0;) {
    if (shape[i] == 0) return true;  // an empty tensor has no layout to get wrong
    if (shape[i] != 1 && stride[i] != expect) return false;
    expect *= shape[i];
  }
  return true;
}

void CheckpointBuilder::add(TensorInfo info) {
  auto it = ck.tensors_.find(info.name);
  if (it != ck.tensors_.end())
    throw Error("key '" + info.name + "' appears twice: in " + it->second.file + " and in " + info.file);
  std::string name = info.name;
  ck.tensors_.emplace(std::move(name), std::move(info));
}

namespace {

std::string join_files(const std::vector<std::string>& files) {
  if (files.empty()) return "(no files)";
  std::string s;
  for (size_t i = 0; i < files.size(); ++i) s += (i ? ", " : "") + files[i];
  return s;
}

std::string dir_of(const std::string& path) {
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? std::string() : path.substr(0, slash + 1);
}

bool starts_with(const uint8_t* p, size_t n, const char* magic, size_t m) {
  return n >= m && std::memcmp(p, magic, m) == 0;
}

bool looks_like_json(const MappedFile& f) {
  for (size_t i = 0; i < f.size(); ++i) {
    uint8_t c = f.data()[i];
    if (c == ' ' || c == '\n' || c == '\r' || c == '\t') continue;
    return c == '{';
  }
  return false;
}

bool looks_like_safetensors(const MappedFile& f) {
  if (f.size() < 9) return false;
  // The length is not checked against the file size here: a truncated file should be reported
  // as a truncated safetensors file, not as an unknown format.
  uint64_t n = 0;
  std::memcpy(&n, f.data(), 8);
  return n >= 2 && n <= (uint64_t(100) << 20) && f.data()[8] == '{';
}

std::string first_bytes_hex(const MappedFile& f) {
  static const char* hex = "0123456789abcdef";
  std::string s;
  for (size_t i = 0; i < f.size() && i < 8; ++i) {
    if (i) s += ' ';
    s += hex[f.data()[i] >> 4];
    s += hex[f.data()[i] & 15];
  }
  return s.empty() ? "(empty file)" : s;
}

void read_file(const std::string& path, CheckpointBuilder& out, bool allow_index);

// `*.safetensors.index.json`: {"metadata": {...}, "weight_map": {name: "shard file"}}; shard paths
// are relative to the index's folder.
void read_index(const std::shared_ptr<MappedFile>& f, CheckpointBuilder& out) {
  json::Value doc = json::parse(reinterpret_cast<const char*>(f->data()), f->size(), f->path());
  const json::Value* map = doc.kind == json::Value::Kind::Object ? doc.find("weight_map") : nullptr;
  if (!map || map->kind != json::Value::Kind::Object)
    throw Error(f->path() + ": expected a safetensors index with a \"weight_map\" object");
  std::vector<std::string> shards;
  std::set<std::string> seen;
  for (const auto& kv : map->object) {
    if (kv.second.kind != json::Value::Kind::String || kv.second.string.empty())
      throw Error(f->path() + ": weight_map entry '" + kv.first + "' must be a file name string");
    std::string shard = kv.second.string[0] == '/' ? kv.second.string : dir_of(f->path()) + kv.second.string;
    if (seen.insert(shard).second) shards.push_back(shard);
  }
  if (shards.empty()) throw Error(f->path() + ": weight_map is empty");
  for (const auto& shard : shards) {
    try {
      read_file(shard, out, false);
    } catch (const Error& e) {
      throw Error(f->path() + ": shard " + e.what());
    }
  }
  for (const auto& kv : map->object) {
    std::string shard = kv.second.string[0] == '/' ? kv.second.string : dir_of(f->path()) + kv.second.string;
    const TensorInfo* t = out.find(kv.first);
    if (!t)
      throw Error(f->path() + ": weight_map lists key '" + kv.first + "' in " + shard + ", but that file has no such tensor");
    if (t->file != shard)
      throw Error(f->path() + ": weight_map lists key '" + kv.first + "' in " + shard + ", but it was found in " + t->file);
  }
}

void read_file(const std::string& path, CheckpointBuilder& out, bool allow_index) {
  std::shared_ptr<MappedFile> f = MappedFile::open(path);
  const uint8_t* p = f->data();
  if (starts_with(p, f->size(), "PK\x03\x04", 4) || starts_with(p, f->size(), "PK\x05\x06", 4)) {
    out.add_file(path);
    read_pth(f, out);
  } else if (f->size() >= 2 && p[0] == 0x80 && p[1] >= 2 && p[1] <= 5) {
    throw Error(path + ": legacy (non-zip) torch.save format is not supported; re-save it with "
                       "torch >= 1.6 (torch.save(torch.load(path), path)) or convert it to safetensors");
  } else if (looks_like_safetensors(*f)) {
    out.add_file(path);
    read_safetensors(f, out);
  } else if (allow_index && looks_like_json(*f)) {
    read_index(f, out);
    return;  // the index holds no tensors itself; the shards keep their own mappings
  } else {
    throw Error(path + ": not a checkpoint: expected a PyTorch zip (.pth), a .safetensors file or a "
                       ".safetensors.index.json; the file starts with " + first_bytes_hex(*f));
  }
  out.keep(std::move(f));
}

}  // namespace

Checkpoint Checkpoint::open(const std::vector<std::string>& paths) {
  if (paths.empty()) throw Error("Checkpoint::open: no checkpoint paths given");
  Checkpoint ck;
  CheckpointBuilder b{ck};
  for (const auto& p : paths) read_file(p, b, true);
  return ck;
}

Checkpoint Checkpoint::from_tensors(std::vector<TensorInfo> tensors) {
  Checkpoint ck;
  CheckpointBuilder b{ck};
  for (auto& t : tensors) {
    if (checked_numel(t.shape) < 0) throw Error("in-memory tensor '" + t.name + "' has invalid shape " + shape_string(t.shape));
    if (t.stride.size() != t.shape.size()) t.stride = contiguous_strides(t.shape);
    if (t.file.empty()) t.file = "(in-memory)";
    b.add(std::move(t));
  }
  ck.files_.push_back("(in-memory)");
  return ck;
}

const TensorInfo& Checkpoint::info(const std::string& name) const {
  auto it = tensors_.find(name);
  if (it != tensors_.end()) return it->second;
  // Point at a neighbour with the same parent (e.g. `.weight` asked, `.int8_weight` stored).
  std::string parent = name.substr(0, name.rfind('.') == std::string::npos ? 0 : name.rfind('.') + 1);
  std::string hint;
  if (!parent.empty()) {
    for (auto j = tensors_.lower_bound(parent); j != tensors_.end() && j->first.compare(0, parent.size(), parent) == 0; ++j) {
      hint += (hint.empty() ? "; keys under '" + parent + "': " : ", ") + j->first;
      if (hint.size() > 200) { hint += ", ..."; break; }
    }
  }
  throw Error(join_files(files_) + ": no tensor '" + name + "' (" + std::to_string(tensors_.size()) + " tensors" +
              (hint.empty() ? ")" : ")" + hint));
}

Tensor Checkpoint::tensor(const std::string& name) const {
  const TensorInfo& t = info(name);
  if (!t.contiguous())
    throw Error(t.file + ": key '" + name + "' is a non-contiguous view (shape " + shape_string(t.shape) + ", stride " +
                shape_string(t.stride) + "); re-save the checkpoint with contiguous tensors");
  if (t.shape.size() > size_t(kMaxDims))
    throw Error(t.file + ": key '" + name + "' has rank " + std::to_string(t.shape.size()) + ", more than the " +
                std::to_string(kMaxDims) + " the engine supports");
  // Ops read elements through typed pointers; real writers align data (torch: 64 B records,
  // safetensors: tensors sorted by element size), so only hand-made files can trip this.
  if (t.numel() > 0 && reinterpret_cast<uintptr_t>(t.data) % dtype_size(t.dtype) != 0)
    throw Error(t.file + ": key '" + name + "' data is not aligned to its " + std::to_string(dtype_size(t.dtype)) +
                "-byte elements; re-save the file with torch.save or the safetensors library");
  // The mapping is read-only: writing through this view faults, which is the point.
  return Tensor::view(const_cast<void*>(t.data), t.dtype, t.shape);
}

Tensor Checkpoint::tensor(const std::string& name, const std::vector<int64_t>& expect_shape) const {
  const TensorInfo& t = info(name);
  if (t.shape != expect_shape)
    throw Error(t.file + ": key '" + name + "' has shape " + shape_string(t.shape) + ", expected " +
                shape_string(expect_shape));
  return tensor(name);
}

std::vector<std::string> Checkpoint::names() const {
  std::vector<std::string> out;
  out.reserve(tensors_.size());
  for (const auto& kv : tensors_) out.push_back(kv.first);
  return out;
}

void Checkpoint::rename(const std::string& from, const std::string& to) {
  if (from == to) return;
  auto it = tensors_.find(from);
  if (it == tensors_.end()) info(from);  // throws with the usual message
  if (tensors_.count(to))
    throw Error(it->second.file + ": cannot rename '" + from + "' to '" + to + "': that key already exists");
  TensorInfo t = std::move(it->second);
  tensors_.erase(it);
  t.name = to;
  tensors_.emplace(to, std::move(t));
}

void Checkpoint::set_shape(const std::string& name, const std::vector<int64_t>& shape) {
  auto it = tensors_.find(name);
  if (it == tensors_.end()) info(name);
  TensorInfo& t = it->second;
  if (!t.contiguous())
    throw Error(t.file + ": cannot reshape non-contiguous key '" + name + "' (shape " + shape_string(t.shape) + ")");
  if (checked_numel(shape) != t.numel())
    throw Error(t.file + ": cannot view key '" + name + "' of shape " + shape_string(t.shape) + " as " +
                shape_string(shape) + " (element counts differ)");
  t.shape = shape;
  t.stride = contiguous_strides(shape);
}

void Checkpoint::erase(const std::string& name) {
  if (!tensors_.erase(name)) info(name);
}

}  // namespace tw::loader

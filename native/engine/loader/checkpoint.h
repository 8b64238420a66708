// Checkpoint files without Python: PyTorch zip `.pth` (torch.save, ZIP64, restricted pickle) and
// safetensors (single files, shards, `.safetensors.index.json`). Files are memory-mapped; tensors
// are views into the mapping (no second host copy). Errors are tw::Error whose message names the
// file, the key, and what was expected.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "tw/tensor.h"

namespace tw::loader {

// A read-only memory mapping of a whole file; unmapped when the last owner goes away.
class MappedFile {
 public:
  static std::shared_ptr<MappedFile> open(const std::string& path);
  ~MappedFile();
  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  const std::string& path() const { return path_; }
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
 private:
  MappedFile() = default;
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
  std::string path_;
};

struct TensorInfo {
  std::string name;
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  std::vector<int64_t> stride;  // elements; contiguous unless the .pth stored a view
  const void* data = nullptr;   // points into the mapping (start of this tensor's first element)
  std::string file;             // which file it came from, for error messages
  int64_t numel() const;
  bool contiguous() const;
};

class Checkpoint {
 public:
  // Opens one or more files (format detected from the bytes, not the extension). Several files,
  // or an index.json, are merged; a key present twice is an error naming both files.
  static Checkpoint open(const std::vector<std::string>& paths);
  static Checkpoint open(const std::string& path) { return open(std::vector<std::string>{path}); }
  // A checkpoint over tensors the caller owns (synthetic models, tests); their data must outlive it.
  // Duplicate names are an error, as in open().
  static Checkpoint from_tensors(std::vector<TensorInfo> tensors);

  bool has(const std::string& name) const { return tensors_.count(name) != 0; }
  const TensorInfo& info(const std::string& name) const;  // throws naming the key and file(s)
  // A tensor view into the mapping. Non-contiguous stored views are rejected with a clear error.
  Tensor tensor(const std::string& name) const;
  // info() + shape check: "file: key 'x' has shape [a,b], expected [c,d]".
  Tensor tensor(const std::string& name, const std::vector<int64_t>& expect_shape) const;
  std::vector<std::string> names() const;
  size_t size() const { return tensors_.size(); }
  const std::vector<std::string>& files() const { return files_; }
  // The mapped files every view points into (e.g. to pin or prefetch them before an upload).
  const std::vector<std::shared_ptr<MappedFile>>& mappings() const { return mappings_; }

  // Renames keys in place (used by the key-scheme normalizers). Missing `from` is an error.
  void rename(const std::string& from, const std::string& to);
  // Replaces a key's view (e.g. Conv3d patch weight [D,C,1,2,2] viewed as [D,C*4]).
  void set_shape(const std::string& name, const std::vector<int64_t>& shape);
  void erase(const std::string& name);

 private:
  std::map<std::string, TensorInfo> tensors_;
  std::vector<std::shared_ptr<MappedFile>> mappings_;
  std::vector<std::string> files_;
  friend struct CheckpointBuilder;
};

}  // namespace tw::loader

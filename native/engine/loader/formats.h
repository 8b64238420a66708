// Internal to the loader: the per-format readers and the builder they fill a Checkpoint through.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "loader/checkpoint.h"

namespace tw::loader {

struct CheckpointBuilder {
  Checkpoint& ck;
  void keep(std::shared_ptr<MappedFile> file) { ck.mappings_.push_back(std::move(file)); }
  void add_file(const std::string& path) { ck.files_.push_back(path); }
  // A key seen twice (across shards or files) is an error naming both files.
  void add(TensorInfo info);
  const TensorInfo* find(const std::string& name) const {
    auto it = ck.tensors_.find(name);
    return it == ck.tensors_.end() ? nullptr : &it->second;
  }
};

// Each reader validates every offset against the mapping before creating a view.
void read_safetensors(const std::shared_ptr<MappedFile>& file, CheckpointBuilder& out);
void read_pth(const std::shared_ptr<MappedFile>& file, CheckpointBuilder& out);

// "[2, 3]" for messages.
std::string shape_string(const std::vector<int64_t>& shape);

// Overflow-checked helpers: false when the result does not fit.
inline bool mul_ok(int64_t a, int64_t b, int64_t* out) { return !__builtin_mul_overflow(a, b, out); }
inline bool add_ok(int64_t a, int64_t b, int64_t* out) { return !__builtin_add_overflow(a, b, out); }

// Element count of `shape` or -1 when a dim is negative or the product overflows int64.
int64_t checked_numel(const std::vector<int64_t>& shape);
// Row-major element strides; only call on shapes checked_numel() accepted.
std::vector<int64_t> contiguous_strides(const std::vector<int64_t>& shape);

}  // namespace tw::loader

// A small strict JSON reader for checkpoint headers (safetensors header, *.safetensors.index.json).
// Inputs come from untrusted files, so it bounds nesting depth and never reads past `size`.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace tw::loader::json {

struct Value {
  enum class Kind : uint8_t { Null, Bool, Number, String, Array, Object };
  Kind kind = Kind::Null;
  bool boolean = false;
  bool is_int = false;  // the number had no fraction/exponent and fits int64
  int64_t integer = 0;
  double number = 0;
  std::string string;
  std::vector<Value> array;
  std::vector<std::pair<std::string, Value>> object;  // file order kept; duplicate keys rejected

  const Value* find(const std::string& key) const;
};

// Throws tw::Error("<where>: invalid JSON at byte N: <why>").
Value parse(const char* text, size_t size, const std::string& where);

}  // namespace tw::loader::json

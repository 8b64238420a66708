// safetensors: u64 little-endian header length N, N bytes of JSON
// {name: {"dtype", "shape", "data_offsets": [begin, end)}, "__metadata__": {...}}, then the data;
// offsets are relative to the first byte after the header.
#include <cstring>

#include "loader/formats.h"
#include "loader/json.h"

namespace tw::loader {

namespace {

// The reference implementation refuses headers above 100 MB; so do we, before parsing.
constexpr uint64_t kMaxHeader = 100u << 20;

bool parse_dtype(const std::string& s, DType* dt) {
  static const struct { const char* name; DType dt; } table[] = {
      {"F32", DType::F32}, {"F16", DType::F16}, {"BF16", DType::BF16}, {"F64", DType::F64},
      {"I8", DType::I8},   {"U8", DType::U8},   {"I16", DType::I16},   {"I32", DType::I32},
      {"I64", DType::I64}, {"BOOL", DType::Bool}, {"F8_E4M3", DType::F8E4M3},
  };
  for (const auto& e : table)
    if (s == e.name) { *dt = e.dt; return true; }
  return false;
}

int64_t get_int(const json::Value& v, const std::string& where) {
  if (v.kind != json::Value::Kind::Number || !v.is_int || v.integer < 0)
    throw Error(where + " must be a non-negative integer");
  return v.integer;
}

}  // namespace

void read_safetensors(const std::shared_ptr<MappedFile>& file, CheckpointBuilder& out) {
  const std::string& path = file->path();
  uint64_t header_len = 0;
  std::memcpy(&header_len, file->data(), 8);
  if (header_len > kMaxHeader || header_len > file->size() - 8)
    throw Error(path + ": safetensors header length " + std::to_string(header_len) + " exceeds the file size " +
                std::to_string(file->size()) + " (truncated or not a safetensors file)");
  const char* header = reinterpret_cast<const char*>(file->data() + 8);
  json::Value doc = json::parse(header, header_len, path + " (safetensors header)");
  if (doc.kind != json::Value::Kind::Object) throw Error(path + ": safetensors header is not a JSON object");
  const uint8_t* base = file->data() + 8 + header_len;
  const uint64_t data_size = file->size() - 8 - header_len;

  for (const auto& kv : doc.object) {
    const std::string& name = kv.first;
    if (name == "__metadata__") continue;
    const std::string where = path + ": tensor '" + name + "'";
    const json::Value& e = kv.second;
    if (e.kind != json::Value::Kind::Object) throw Error(where + ": entry is not an object");
    const json::Value* dtype = e.find("dtype");
    const json::Value* shape = e.find("shape");
    const json::Value* offsets = e.find("data_offsets");
    if (!dtype || dtype->kind != json::Value::Kind::String) throw Error(where + ": missing string \"dtype\"");
    if (!shape || shape->kind != json::Value::Kind::Array) throw Error(where + ": missing array \"shape\"");
    if (!offsets || offsets->kind != json::Value::Kind::Array || offsets->array.size() != 2)
      throw Error(where + ": \"data_offsets\" must be [begin, end]");

    TensorInfo t;
    t.name = name;
    t.file = path;
    if (!parse_dtype(dtype->string, &t.dtype))
      throw Error(where + ": unsupported dtype \"" + dtype->string +
                  "\" (expected one of F32 F16 BF16 F64 I8 U8 I16 I32 I64 BOOL F8_E4M3)");
    for (const auto& d : shape->array) t.shape.push_back(get_int(d, where + ": shape entry"));
    int64_t begin = get_int(offsets->array[0], where + ": data_offsets[0]");
    int64_t end = get_int(offsets->array[1], where + ": data_offsets[1]");
    int64_t numel = checked_numel(t.shape);
    int64_t nbytes = 0;
    if (numel < 0 || !mul_ok(numel, int64_t(dtype_size(t.dtype)), &nbytes))
      throw Error(where + ": shape " + shape_string(t.shape) + " is too large");
    if (end < begin || uint64_t(end) > data_size)
      throw Error(where + ": data_offsets [" + std::to_string(begin) + ", " + std::to_string(end) +
                  ") fall outside the " + std::to_string(data_size) + " data bytes (truncated file?)");
    if (end - begin != nbytes)
      throw Error(where + ": data_offsets span " + std::to_string(end - begin) + " bytes, expected " +
                  std::to_string(nbytes) + " for " + dtype->string + " " + shape_string(t.shape));
    t.stride = contiguous_strides(t.shape);
    t.data = base + begin;
    out.add(std::move(t));
  }
}

}  // namespace tw::loader

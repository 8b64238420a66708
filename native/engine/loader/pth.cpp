// torch.save zip checkpoints: `<prefix>/data.pkl` is a pickle whose tensors are
// torch._utils._rebuild_tensor_v2(storage, offset, size, stride, requires_grad, hooks[, metadata])
// and whose storages are persistent ids ('storage', torch.<X>Storage, key, location, numel) naming
// `<prefix>/data/<key>`. Dtypes without a legacy storage class (float8) come as
// _rebuild_tensor_v3(untyped storage, offset, size, stride, requires_grad, hooks, torch.<dtype>[, metadata]).
// Only this restricted subset of pickle is understood; nothing is executed.
// Values live in one arena and refer to each other by index, so hostile pickles (self-referencing
// lists, deep nesting) can neither leak nor recurse.
#include <cstring>
#include <unordered_map>

#include "loader/formats.h"
#include "loader/zip_archive.h"

namespace tw::loader {

namespace {

struct Storage {
  const uint8_t* data = nullptr;
  int64_t nbytes = 0;  // bytes available in the record
  DType dtype = DType::U8;
};

struct Value {
  enum Kind : uint8_t { None, Bool, Int, Float, Str, Bytes, Tuple, List, Dict, Global, Object, StorageRef, TensorRef };
  Kind kind = None;
  int64_t i = 0;       // Int, Bool; index into storages/tensors for StorageRef/TensorRef
  double f = 0;
  std::string s;       // Str, Bytes, Global "module.name", Object class name
  std::vector<uint32_t> items;  // Tuple/List elements; Dict keys and values interleaved
};

const char* kind_name(Value::Kind k) {
  static const char* names[] = {"None", "bool", "int", "float", "str", "bytes", "tuple", "list", "dict",
                                "global", "object", "storage", "tensor"};
  return names[k];
}

bool storage_dtype(const std::string& cls, DType* dt) {
  static const struct { const char* name; DType dt; } table[] = {
      {"torch.FloatStorage", DType::F32},   {"torch.BFloat16Storage", DType::BF16}, {"torch.HalfStorage", DType::F16},
      {"torch.DoubleStorage", DType::F64},  {"torch.CharStorage", DType::I8},       {"torch.ByteStorage", DType::U8},
      {"torch.ShortStorage", DType::I16},   {"torch.IntStorage", DType::I32},       {"torch.LongStorage", DType::I64},
      {"torch.BoolStorage", DType::Bool},   {"torch.Float8_e4m3fnStorage", DType::F8E4M3},
      // Untyped storages are bytes; torch writes them for bare storages, never for tensors.
      {"torch.UntypedStorage", DType::U8},  {"torch.storage.UntypedStorage", DType::U8},
  };
  for (const auto& e : table)
    if (cls == e.name) { *dt = e.dt; return true; }
  return false;
}

bool torch_dtype(const std::string& name, DType* dt) {
  static const struct { const char* name; DType dt; } table[] = {
      {"torch.float32", DType::F32}, {"torch.float", DType::F32},   {"torch.bfloat16", DType::BF16},
      {"torch.float16", DType::F16}, {"torch.half", DType::F16},    {"torch.float64", DType::F64},
      {"torch.double", DType::F64},  {"torch.int8", DType::I8},     {"torch.uint8", DType::U8},
      {"torch.int16", DType::I16},   {"torch.short", DType::I16},   {"torch.int32", DType::I32},
      {"torch.int", DType::I32},     {"torch.int64", DType::I64},   {"torch.long", DType::I64},
      {"torch.bool", DType::Bool},   {"torch.float8_e4m3fn", DType::F8E4M3},
  };
  for (const auto& e : table)
    if (name == e.name) { *dt = e.dt; return true; }
  return false;
}

class Unpickler {
 public:
  Unpickler(const ZipArchive& zip, const uint8_t* p, uint64_t n) : zip_(zip), p_(p), n_(n) {}

  std::vector<Value> arena;
  std::vector<Storage> storages;
  std::vector<TensorInfo> tensors;

  uint32_t run() {
    for (;;) {
      op_at_ = pos_;
      uint8_t op = byte();
      switch (op) {
        case 0x80: byte(); break;                               // PROTO
        case 0x95: bytes(8); break;                             // FRAME (protocol 4 framing)
        case '.':                                               // STOP
          if (stack_.empty()) fail("STOP with an empty stack");
          return stack_.back();
        case '(': marks_.push_back(stack_.size()); break;       // MARK
        case ')': push(make(Value::Tuple)); break;              // EMPTY_TUPLE
        case ']': push(make(Value::List)); break;               // EMPTY_LIST
        case '}': push(make(Value::Dict)); break;               // EMPTY_DICT
        case 0x8f: push(make(Value::List)); break;              // EMPTY_SET (kept as a list)
        case 'N': push(make(Value::None)); break;
        case 0x88: case 0x89: {                                 // NEWTRUE / NEWFALSE
          uint32_t v = make(Value::Bool);
          arena[v].i = op == 0x88;
          push(v);
          break;
        }
        case 'J': push_int(int32_t(le(4))); break;              // BININT
        case 'K': push_int(int64_t(le(1))); break;              // BININT1
        case 'M': push_int(int64_t(le(2))); break;              // BININT2
        case 0x8a: long_int(le(1)); break;                      // LONG1
        case 0x8b: long_int(le(4)); break;                      // LONG4
        case 'G': {                                             // BINFLOAT: big-endian double
          const uint8_t* b = bytes(8);
          uint64_t u = 0;
          for (int k = 0; k < 8; ++k) u = (u << 8) | b[k];
          uint32_t v = make(Value::Float);
          std::memcpy(&arena[v].f, &u, 8);
          push(v);
          break;
        }
        case 'X': push_text(Value::Str, le(4)); break;          // BINUNICODE
        case 0x8c: push_text(Value::Str, le(1)); break;         // SHORT_BINUNICODE
        case 0x8d: push_text(Value::Str, le(8)); break;         // BINUNICODE8
        case 'T': push_text(Value::Str, le(4)); break;          // BINSTRING (py2 str)
        case 'U': push_text(Value::Str, le(1)); break;          // SHORT_BINSTRING
        case 'B': push_text(Value::Bytes, le(4)); break;        // BINBYTES
        case 'C': push_text(Value::Bytes, le(1)); break;        // SHORT_BINBYTES
        case 0x8e: push_text(Value::Bytes, le(8)); break;       // BINBYTES8
        case 'c': {                                             // GLOBAL "module\nname\n"
          std::string mod = line(), name = line();
          push_global(mod + "." + name);
          break;
        }
        case 0x93: {                                            // STACK_GLOBAL
          uint32_t name = pop(), mod = pop();
          if (arena[mod].kind != Value::Str || arena[name].kind != Value::Str) fail("STACK_GLOBAL needs two strings");
          push_global(arena[mod].s + "." + arena[name].s);
          break;
        }
        case 'q': memo_[uint32_t(le(1))] = top(); break;        // BINPUT
        case 'r': memo_[uint32_t(le(4))] = top(); break;        // LONG_BINPUT
        case 0x94: memo_[uint32_t(memo_.size())] = top(); break;  // MEMOIZE
        case 'h': push(memo(le(1))); break;                     // BINGET
        case 'j': push(memo(le(4))); break;                     // LONG_BINGET
        case '0': pop(); break;                                 // POP
        case '1': pop_mark(); break;                            // POP_MARK
        case '2': push(top()); break;                           // DUP
        case 't': {                                             // TUPLE
          uint32_t v = make(Value::Tuple);
          arena[v].items = pop_mark();
          push(v);
          break;
        }
        case 0x85: case 0x86: case 0x87: {                      // TUPLE1/2/3
          size_t k = size_t(op - 0x84);
          if (stack_.size() < k + floor()) fail("TUPLE" + std::to_string(k) + " on a short stack");
          uint32_t v = make(Value::Tuple);
          arena[v].items.assign(stack_.end() - long(k), stack_.end());
          stack_.resize(stack_.size() - k);
          push(v);
          break;
        }
        case 'l': { uint32_t v = make(Value::List); arena[v].items = pop_mark(); push(v); break; }  // LIST
        case 0x91: { uint32_t v = make(Value::List); arena[v].items = pop_mark(); push(v); break; }  // FROZENSET
        case 'd': {                                             // DICT
          std::vector<uint32_t> kv = pop_mark();
          if (kv.size() % 2) fail("DICT with an odd number of items");
          uint32_t v = make(Value::Dict);
          arena[v].items = std::move(kv);
          push(v);
          break;
        }
        case 's': {                                             // SETITEM
          uint32_t v = pop(), k = pop();
          add_items(top(), {k, v}, true);
          break;
        }
        case 'u': {                                             // SETITEMS
          std::vector<uint32_t> kv = pop_mark();
          if (kv.size() % 2) fail("SETITEMS with an odd number of items");
          add_items(top(), kv, true);
          break;
        }
        case 'a': { uint32_t v = pop(); add_items(top(), {v}, false); break; }  // APPEND
        case 'e': case 0x90: {                                  // APPENDS / ADDITEMS
          std::vector<uint32_t> vs = pop_mark();
          add_items(top(), vs, false);
          break;
        }
        case 'Q': {                                             // BINPERSID
          uint32_t pid = pop();
          push(persistent_load(pid));
          break;
        }
        case 'R': {                                             // REDUCE
          uint32_t args = pop(), fn = pop();
          push(reduce(fn, args));
          break;
        }
        case 0x81: {                                            // NEWOBJ cls args
          pop();
          push(object_of(pop()));
          break;
        }
        case 0x92: {                                            // NEWOBJ_EX cls args kwargs
          pop();
          pop();
          push(object_of(pop()));
          break;
        }
        case 'b': pop(); top(); break;                          // BUILD: state is ignored (e.g. _metadata)
        default:
          fail("unsupported pickle opcode 0x" + hex(op) + " (the checkpoint uses pickle features torch.save does not write)");
      }
    }
  }

 private:
  const ZipArchive& zip_;
  const uint8_t* p_;
  uint64_t n_;
  uint64_t pos_ = 0, op_at_ = 0;
  std::vector<uint32_t> stack_;
  std::vector<size_t> marks_;
  std::unordered_map<uint32_t, uint32_t> memo_;
  std::unordered_map<std::string, uint32_t> storage_by_key_;

  [[noreturn]] void fail(const std::string& why) const {
    throw Error(zip_.path() + ": " + zip_.prefix() + "/data.pkl byte " + std::to_string(op_at_) + ": " + why);
  }
  static std::string hex(uint8_t b) {
    const char* d = "0123456789abcdef";
    return std::string{d[b >> 4], d[b & 15]};
  }

  const uint8_t* bytes(uint64_t k) {
    if (k > n_ - pos_) fail("pickle ends early (wanted " + std::to_string(k) + " more bytes)");
    const uint8_t* b = p_ + pos_;
    pos_ += k;
    return b;
  }
  uint8_t byte() { return *bytes(1); }
  uint64_t le(int k) {
    const uint8_t* b = bytes(uint64_t(k));
    uint64_t v = 0;
    for (int j = k - 1; j >= 0; --j) v = (v << 8) | b[j];
    return v;
  }
  std::string line() {
    uint64_t start = pos_;
    while (pos_ < n_ && p_[pos_] != '\n') ++pos_;
    if (pos_ >= n_) fail("GLOBAL name is not terminated");
    std::string s(reinterpret_cast<const char*>(p_ + start), pos_ - start);
    ++pos_;
    return s;
  }

  uint32_t make(Value::Kind k) {
    arena.emplace_back();
    arena.back().kind = k;
    return uint32_t(arena.size() - 1);
  }
  void push(uint32_t v) { stack_.push_back(v); }
  size_t floor() const { return marks_.empty() ? 0 : marks_.back(); }
  uint32_t pop() {
    if (stack_.size() <= floor()) fail("pop from an empty stack");
    uint32_t v = stack_.back();
    stack_.pop_back();
    return v;
  }
  uint32_t top() {
    if (stack_.size() <= floor()) fail("the stack is empty");
    return stack_.back();
  }
  std::vector<uint32_t> pop_mark() {
    if (marks_.empty()) fail("no MARK on the stack");
    size_t m = marks_.back();
    marks_.pop_back();
    if (m > stack_.size()) fail("MARK above the stack top");
    std::vector<uint32_t> items(stack_.begin() + long(m), stack_.end());
    stack_.resize(m);
    return items;
  }
  uint32_t memo(uint64_t k) {
    auto it = memo_.find(uint32_t(k));
    if (it == memo_.end()) fail("memo slot " + std::to_string(k) + " was never stored");
    return it->second;
  }
  void push_int(int64_t x) {
    uint32_t v = make(Value::Int);
    arena[v].i = x;
    push(v);
  }
  void long_int(uint64_t len) {
    const uint8_t* b = bytes(len);
    if (len > 8) {  // a Python int beyond int64: no tensor field needs one, keep it opaque
      uint32_t v = make(Value::Object);
      arena[v].s = "int (beyond 64 bits)";
      push(v);
      return;
    }
    uint64_t u = 0;
    for (uint64_t j = len; j-- > 0;) u = (u << 8) | b[j];
    if (len > 0 && len < 8 && (b[len - 1] & 0x80)) u |= ~uint64_t(0) << (8 * len);  // sign-extend
    push_int(int64_t(u));
  }
  void push_text(Value::Kind k, uint64_t len) {
    const uint8_t* b = bytes(len);
    uint32_t v = make(k);
    arena[v].s.assign(reinterpret_cast<const char*>(b), len);
    push(v);
  }
  void push_global(const std::string& name) {
    uint32_t v = make(Value::Global);
    arena[v].s = name;
    push(v);
  }
  uint32_t object_of(uint32_t cls) {
    uint32_t v = make(Value::Object);
    arena[v].s = arena[cls].kind == Value::Global ? arena[cls].s : "?";
    return v;
  }

  void add_items(uint32_t target, const std::vector<uint32_t>& items, bool dict) {
    Value& t = arena[target];
    if (dict ? t.kind == Value::Dict : t.kind == Value::List) {
      t.items.insert(t.items.end(), items.begin(), items.end());
      return;
    }
    if (t.kind == Value::Object) return;  // e.g. a dict or list subclass we do not model
    fail(std::string(dict ? "SETITEM(S)" : "APPEND(S)") + " on a " + kind_name(t.kind));
  }

  const Value& tuple_item(uint32_t tuple, size_t k, Value::Kind want, const char* what) {
    const Value& t = arena[tuple];
    if (k >= t.items.size()) fail(std::string(what) + " is missing");
    const Value& v = arena[t.items[k]];
    if (v.kind != want) fail(std::string(what) + " is a " + kind_name(v.kind) + ", expected a " + kind_name(want));
    return v;
  }

  // ('storage', torch.<X>Storage, key, location, numel) → a view of `<prefix>/data/<key>`.
  uint32_t persistent_load(uint32_t pid) {
    if (arena[pid].kind != Value::Tuple) fail("persistent id is a " + std::string(kind_name(arena[pid].kind)) + ", expected a tuple");
    if (tuple_item(pid, 0, Value::Str, "persistent id tag").s != "storage")
      fail("persistent id tag '" + arena[arena[pid].items[0]].s + "' is not 'storage'");
    const std::string& cls = tuple_item(pid, 1, Value::Global, "storage type").s;
    const std::string& key = tuple_item(pid, 2, Value::Str, "storage key").s;
    int64_t numel = tuple_item(pid, 4, Value::Int, "storage size").i;
    DType dt;
    if (!storage_dtype(cls, &dt))
      fail("storage '" + key + "' has unsupported type " + cls +
           " (supported: Float, BFloat16, Half, Double, Char, Byte, Short, Int, Long, Bool, Float8_e4m3fn)");
    auto found = storage_by_key_.find(key);
    if (found != storage_by_key_.end()) {
      uint32_t v = make(Value::StorageRef);
      arena[v].i = found->second;
      return v;
    }
    std::string record = zip_.prefix() + "/data/" + key;
    const ZipArchive::Record* r = zip_.find(record);
    if (!r) fail("storage '" + key + "' has no record " + record + " in the archive");
    int64_t need = 0;
    if (numel < 0 || !mul_ok(numel, int64_t(dtype_size(dt)), &need) || uint64_t(need) > r->size)
      fail("storage '" + key + "' claims " + std::to_string(numel) + " " + dtype_name(dt) + " elements, but " + record +
           " holds " + std::to_string(r->size) + " bytes");
    Storage s;
    s.data = r->data;
    s.nbytes = int64_t(r->size);
    s.dtype = dt;
    storages.push_back(s);
    storage_by_key_[key] = uint32_t(storages.size() - 1);
    uint32_t v = make(Value::StorageRef);
    arena[v].i = int64_t(storages.size() - 1);
    return v;
  }

  std::vector<int64_t> int_tuple(uint32_t tuple, size_t k, const char* what) {
    const Value& t = arena[tuple];
    if (k >= t.items.size()) fail(std::string(what) + " is missing");
    const Value& v = arena[t.items[k]];
    if (v.kind != Value::Tuple && v.kind != Value::List) fail(std::string(what) + " is a " + kind_name(v.kind) + ", expected a tuple");
    std::vector<int64_t> out;
    for (uint32_t e : v.items) {
      if (arena[e].kind != Value::Int || arena[e].i < 0) fail(std::string(what) + " holds a non-integer or negative entry");
      out.push_back(arena[e].i);
    }
    return out;
  }

  uint32_t rebuild_tensor(uint32_t args, bool v3) {
    size_t min_args = v3 ? 7 : 4, max_args = v3 ? 8 : 7;
    if (arena[args].kind != Value::Tuple || arena[args].items.size() < min_args || arena[args].items.size() > max_args)
      fail(std::string(v3 ? "_rebuild_tensor_v3" : "_rebuild_tensor_v2") + " called with the wrong number of arguments");
    const Value& sref = tuple_item(args, 0, Value::StorageRef, "tensor storage");
    const Storage& st = storages[size_t(sref.i)];
    int64_t offset = tuple_item(args, 1, Value::Int, "storage offset").i;
    TensorInfo t;
    t.dtype = st.dtype;
    if (v3) {
      const std::string& name = tuple_item(args, 6, Value::Global, "tensor dtype").s;
      if (!torch_dtype(name, &t.dtype)) fail("unsupported tensor dtype " + name);
    }
    // Offsets and strides count elements of the tensor's dtype, whatever the storage class says.
    const int64_t capacity = st.nbytes / int64_t(dtype_size(t.dtype));
    t.shape = int_tuple(args, 2, "tensor size");
    t.stride = int_tuple(args, 3, "tensor stride");
    t.file = zip_.path();
    if (t.shape.size() != t.stride.size())
      fail("tensor size " + shape_string(t.shape) + " and stride " + shape_string(t.stride) + " differ in rank");
    int64_t numel = checked_numel(t.shape);
    if (numel < 0 || offset < 0) fail("tensor size " + shape_string(t.shape) + " or offset is invalid");
    // Highest element the view touches must lie inside the storage.
    int64_t last = offset;
    bool ok = true;
    if (numel > 0) {
      for (size_t d = 0; d < t.shape.size(); ++d) {
        int64_t span = 0;
        ok = ok && mul_ok(t.shape[d] - 1, t.stride[d], &span) && add_ok(last, span, &last);
      }
    }
    if (!ok || (numel > 0 ? last >= capacity : offset > capacity))
      fail("tensor view (offset " + std::to_string(offset) + ", size " + shape_string(t.shape) + ", stride " +
           shape_string(t.stride) + ") reaches past its storage of " + std::to_string(capacity) + " " +
           dtype_name(t.dtype) + " elements");
    t.data = st.data + offset * int64_t(dtype_size(t.dtype));
    tensors.push_back(std::move(t));
    uint32_t v = make(Value::TensorRef);
    arena[v].i = int64_t(tensors.size() - 1);
    return v;
  }

  uint32_t reduce(uint32_t fn, uint32_t args) {
    if (arena[fn].kind != Value::Global) return object_of(fn);
    const std::string name = arena[fn].s;  // a copy: make() below may move the arena
    if (name == "torch._utils._rebuild_tensor_v2" || name == "torch._utils._rebuild_tensor") return rebuild_tensor(args, false);
    if (name == "torch._utils._rebuild_tensor_v3") return rebuild_tensor(args, true);
    if (name == "torch._utils._rebuild_parameter" || name == "torch._utils._rebuild_parameter_with_state") {
      tuple_item(args, 0, Value::TensorRef, "parameter data");
      return arena[args].items[0];
    }
    if (name == "collections.OrderedDict") {
      if (arena[args].kind != Value::Tuple || !arena[args].items.empty())
        fail("OrderedDict built with arguments; expected OrderedDict() filled by SETITEMS");
      return make(Value::Dict);
    }
    if (name.rfind("torch._utils._rebuild_", 0) == 0)
      fail("unsupported tensor kind " + name + " (only dense tensors can be loaded)");
    uint32_t v = make(Value::Object);  // anything else (bytes via _codecs.encode, torch.device, ...) is opaque
    arena[v].s = name;
    return v;
  }
};

// The dict whose tensors form the checkpoint: the root, or its 'state_dict' / 'model' / 'module'.
uint32_t state_dict_of(const Unpickler& u, uint32_t root, const std::string& path) {
  const Value& r = u.arena[root];
  if (r.kind != Value::Dict)
    throw Error(path + ": the pickled object is a " + std::string(kind_name(r.kind)) + ", expected a state dict (a dict of tensors)");
  for (size_t k = 1; k < r.items.size(); k += 2)
    if (u.arena[r.items[k]].kind == Value::TensorRef) return root;
  for (const char* wrapper : {"state_dict", "model", "module"}) {
    for (size_t k = 0; k + 1 < r.items.size(); k += 2) {
      const Value& key = u.arena[r.items[k]];
      if (key.kind == Value::Str && key.s == wrapper && u.arena[r.items[k + 1]].kind == Value::Dict) return r.items[k + 1];
    }
  }
  return root;
}

}  // namespace

void read_pth(const std::shared_ptr<MappedFile>& file, CheckpointBuilder& out) {
  ZipArchive zip(file);
  const std::string& path = file->path();
  if (const ZipArchive::Record* order = zip.find(zip.prefix() + "/byteorder")) {
    std::string s(reinterpret_cast<const char*>(order->data), order->size);
    if (s != "little") throw Error(path + ": byteorder is '" + s + "'; only little-endian checkpoints are supported");
  }
  const ZipArchive::Record* pkl = zip.find(zip.prefix() + "/data.pkl");
  if (!pkl) throw Error(path + ": zip archive has no " + zip.prefix() + "/data.pkl (not a torch.save checkpoint)");
  Unpickler u(zip, pkl->data, pkl->size);
  uint32_t root = u.run();
  uint32_t dict = state_dict_of(u, root, path);
  const Value& d = u.arena[dict];
  size_t added = 0;
  std::string others;
  for (size_t k = 0; k + 1 < d.items.size(); k += 2) {
    const Value& key = u.arena[d.items[k]];
    const Value& val = u.arena[d.items[k + 1]];
    if (key.kind == Value::Str && val.kind == Value::TensorRef) {
      TensorInfo t = u.tensors[size_t(val.i)];  // copied: one tensor may sit under two keys
      t.name = key.s;
      out.add(std::move(t));
      ++added;
    } else if (key.kind == Value::Str && others.size() < 200) {
      others += (others.empty() ? "" : ", ") + key.s;
    }
  }
  if (!added)
    throw Error(path + ": no tensors found in the pickled dict" + (others.empty() ? "" : " (keys: " + others + ")"));
}

}  // namespace tw::loader

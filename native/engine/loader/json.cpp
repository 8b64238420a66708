#include "loader/json.h"

#include <cstdlib>
#include <set>

#include "tw/tensor.h"

namespace tw::loader::json {

const Value* Value::find(const std::string& key) const {
  for (const auto& kv : object)
    if (kv.first == key) return &kv.second;
  return nullptr;
}

namespace {

// Deep enough for any checkpoint header (they nest 3 levels); shallow enough that recursion
// (parse and destruction) can never exhaust the stack on hostile input.
constexpr int kMaxDepth = 64;

class Parser {
 public:
  Parser(const char* p, size_t n, const std::string& where) : p_(p), n_(n), where_(where) {}

  Value document() {
    Value v = value(0);
    skip_ws();
    if (i_ != n_) fail("trailing bytes after the JSON value");
    return v;
  }

 private:
  const char* p_;
  size_t n_;
  size_t i_ = 0;
  const std::string& where_;

  [[noreturn]] void fail(const std::string& why) const {
    throw Error(where_ + ": invalid JSON at byte " + std::to_string(i_) + ": " + why);
  }
  void skip_ws() {
    while (i_ < n_ && (p_[i_] == ' ' || p_[i_] == '\t' || p_[i_] == '\n' || p_[i_] == '\r')) ++i_;
  }
  char peek() {
    skip_ws();
    if (i_ >= n_) fail("unexpected end of input");
    return p_[i_];
  }
  void expect(char c) {
    if (peek() != c) fail(std::string("expected '") + c + "'");
    ++i_;
  }
  bool literal(const char* word) {
    size_t k = 0;
    while (word[k]) {
      if (i_ + k >= n_ || p_[i_ + k] != word[k]) return false;
      ++k;
    }
    i_ += k;
    return true;
  }

  Value value(int depth) {
    if (depth > kMaxDepth) fail("nesting deeper than " + std::to_string(kMaxDepth));
    Value v;
    char c = peek();
    if (c == '{') {
      v.kind = Value::Kind::Object;
      ++i_;
      std::set<std::string> seen;
      if (peek() == '}') { ++i_; return v; }
      for (;;) {
        if (peek() != '"') fail("expected a string key");
        std::string key = string();
        if (!seen.insert(key).second) fail("duplicate key \"" + key + "\"");
        expect(':');
        Value item = value(depth + 1);
        v.object.emplace_back(std::move(key), std::move(item));
        char d = peek();
        ++i_;
        if (d == '}') return v;
        if (d != ',') { --i_; fail("expected ',' or '}'"); }
      }
    }
    if (c == '[') {
      v.kind = Value::Kind::Array;
      ++i_;
      if (peek() == ']') { ++i_; return v; }
      for (;;) {
        v.array.push_back(value(depth + 1));
        char d = peek();
        ++i_;
        if (d == ']') return v;
        if (d != ',') { --i_; fail("expected ',' or ']'"); }
      }
    }
    if (c == '"') {
      v.kind = Value::Kind::String;
      v.string = string();
      return v;
    }
    if (literal("true")) { v.kind = Value::Kind::Bool; v.boolean = true; return v; }
    if (literal("false")) { v.kind = Value::Kind::Bool; return v; }
    if (literal("null")) return v;
    if (c == '-' || (c >= '0' && c <= '9')) return number();
    fail(std::string("unexpected character '") + c + "'");
  }

  Value number() {
    size_t start = i_;
    if (p_[i_] == '-') ++i_;
    size_t digits = i_;
    while (i_ < n_ && p_[i_] >= '0' && p_[i_] <= '9') ++i_;
    if (i_ == digits) fail("expected digits");
    bool frac = false;
    if (i_ < n_ && p_[i_] == '.') {
      frac = true;
      ++i_;
      size_t f = i_;
      while (i_ < n_ && p_[i_] >= '0' && p_[i_] <= '9') ++i_;
      if (i_ == f) fail("expected digits after '.'");
    }
    if (i_ < n_ && (p_[i_] == 'e' || p_[i_] == 'E')) {
      frac = true;
      ++i_;
      if (i_ < n_ && (p_[i_] == '+' || p_[i_] == '-')) ++i_;
      size_t e = i_;
      while (i_ < n_ && p_[i_] >= '0' && p_[i_] <= '9') ++i_;
      if (i_ == e) fail("expected exponent digits");
    }
    Value v;
    v.kind = Value::Kind::Number;
    std::string text(p_ + start, i_ - start);  // bounded copy: strtod needs a terminator
    v.number = std::strtod(text.c_str(), nullptr);
    if (!frac) {
      bool neg = text[0] == '-';
      uint64_t acc = 0;
      bool fits = true;
      for (size_t k = neg ? 1 : 0; k < text.size(); ++k) {
        uint64_t d = uint64_t(text[k] - '0');
        if (acc > (uint64_t(INT64_MAX) - d) / 10) { fits = false; break; }
        acc = acc * 10 + d;
      }
      if (fits) {
        v.is_int = true;
        v.integer = neg ? -int64_t(acc) : int64_t(acc);
      }
    }
    return v;
  }

  static void utf8(std::string& out, uint32_t cp) {
    if (cp < 0x80) {
      out += char(cp);
    } else if (cp < 0x800) {
      out += char(0xC0 | (cp >> 6));
      out += char(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      out += char(0xE0 | (cp >> 12));
      out += char(0x80 | ((cp >> 6) & 0x3F));
      out += char(0x80 | (cp & 0x3F));
    } else {
      out += char(0xF0 | (cp >> 18));
      out += char(0x80 | ((cp >> 12) & 0x3F));
      out += char(0x80 | ((cp >> 6) & 0x3F));
      out += char(0x80 | (cp & 0x3F));
    }
  }

  uint32_t hex4() {
    if (i_ + 4 > n_) fail("truncated \\u escape");
    uint32_t cp = 0;
    for (int k = 0; k < 4; ++k) {
      char h = p_[i_++];
      cp <<= 4;
      if (h >= '0' && h <= '9') cp |= uint32_t(h - '0');
      else if (h >= 'a' && h <= 'f') cp |= uint32_t(h - 'a' + 10);
      else if (h >= 'A' && h <= 'F') cp |= uint32_t(h - 'A' + 10);
      else fail("bad hex digit in \\u escape");
    }
    return cp;
  }

  std::string string() {
    ++i_;  // opening quote
    std::string out;
    for (;;) {
      if (i_ >= n_) fail("unterminated string");
      char c = p_[i_++];
      if (c == '"') return out;
      if (uint8_t(c) < 0x20) fail("control character in string");
      if (c != '\\') { out += c; continue; }
      if (i_ >= n_) fail("unterminated escape");
      char e = p_[i_++];
      switch (e) {
        case '"': out += '"'; break;
        case '\\': out += '\\'; break;
        case '/': out += '/'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'u': {
          uint32_t cp = hex4();
          if (cp >= 0xD800 && cp < 0xDC00) {
            if (i_ + 2 > n_ || p_[i_] != '\\' || p_[i_ + 1] != 'u') fail("unpaired surrogate");
            i_ += 2;
            uint32_t lo = hex4();
            if (lo < 0xDC00 || lo >= 0xE000) fail("bad low surrogate");
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
          } else if (cp >= 0xDC00 && cp < 0xE000) {
            fail("unpaired surrogate");
          }
          utf8(out, cp);
          break;
        }
        default: fail(std::string("bad escape '\\") + e + "'");
      }
    }
  }
};

}  // namespace

Value parse(const char* text, size_t size, const std::string& where) {
  return Parser(text, size, where).document();
}

}  // namespace tw::loader::json

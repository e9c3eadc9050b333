#include "dtype.h"

#include <cstdlib>

namespace sdmali {
namespace {

bool parseUnsigned(const std::string& s, unsigned long max, unsigned long* out) {
  if (s.empty() || s.size() > 6) return false;
  for (char c : s)
    if (c < '0' || c > '9') return false;
  *out = std::strtoul(s.c_str(), nullptr, 10);
  return *out >= 1 && *out <= max;
}

}  // namespace

std::optional<DType> parseDType(const std::string& text) {
  if (text == "bool") return DType{1, 1, 1};
  std::string base = text;
  unsigned long lanes = 1;
  if (auto x = text.find('x'); x != std::string::npos) {
    if (!parseUnsigned(text.substr(x + 1), 65535, &lanes)) return std::nullopt;
    base = text.substr(0, x);
  }
  struct Prefix {
    const char* name;
    uint8_t code;
  };
  // bfloat before float: both end in "float".
  for (const Prefix& p : {Prefix{"bfloat", 4}, Prefix{"float", 2}, Prefix{"uint", 1}, Prefix{"int", 0}}) {
    const std::string name = p.name;
    if (base.rfind(name, 0) != 0) continue;
    unsigned long bits = 0;
    if (!parseUnsigned(base.substr(name.size()), 64, &bits)) return std::nullopt;
    bool ok = p.code == 4 ? bits == 16
              : p.code == 2 ? (bits == 16 || bits == 32 || bits == 64)
                            : (bits == 8 || bits == 16 || bits == 32 || bits == 64);
    if (!ok) return std::nullopt;
    return DType{p.code, static_cast<uint8_t>(bits), static_cast<uint16_t>(lanes)};
  }
  return std::nullopt;
}

std::string formatDType(DType d) {
  std::string base;
  switch (d.code) {
    case 0: base = "int"; break;
    case 1: base = d.bits == 1 ? "bool" : "uint"; break;
    case 2: base = "float"; break;
    case 4: base = "bfloat"; break;
    default: base = "custom[" + std::to_string(d.code) + "]"; break;
  }
  if (base != "bool") base += std::to_string(d.bits);
  if (d.lanes != 1) base += "x" + std::to_string(d.lanes);
  return base;
}

}  // namespace sdmali

// The machine code of a cubin (ELF64), for tests that compare what two compiles made.
#pragma once
#include <cstdint>
#include <cstring>
#include <map>
#include <string>

namespace kasmina::ops::testing {

// Its .text.* sections by name (a kernel's or a relocatable function's code each).
inline std::map<std::string, std::string> text_sections(const std::string& elf) {
  const auto at = [&](size_t off, size_t n) {
    uint64_t v = 0;
    std::memcpy(&v, elf.data() + off, n);  // little-endian, as every CUDA host
    return v;
  };
  const size_t shoff = at(0x28, 8), shentsize = at(0x3A, 2), shnum = at(0x3C, 2);
  const size_t strtab = shoff + at(0x3E, 2) * shentsize;
  const size_t names = at(strtab + 0x18, 8);
  std::map<std::string, std::string> out;
  for (size_t i = 0; i < shnum; ++i) {
    const size_t h = shoff + i * shentsize;
    const std::string name = elf.c_str() + names + at(h, 4);
    if (name.rfind(".text.", 0) == 0) out[name] = elf.substr(at(h + 0x18, 8), at(h + 0x20, 8));
  }
  return out;
}

}  // namespace kasmina::ops::testing

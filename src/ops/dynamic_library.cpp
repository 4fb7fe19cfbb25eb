#include "ops/dynamic_library.hpp"

#include <cstdlib>

#include "core/str_cat.hpp"

namespace kasmina::ops {

void* open_library(const char* env, const std::vector<std::string>& names, const char* what,
                   std::string* why) {
  std::vector<std::string> tries = names;
  if (const char* only = std::getenv(env); only && *only) tries = {only};
  std::string tried;
  for (const std::string& n : tries) {
    if (void* lib = ::dlopen(n.c_str(), RTLD_NOW | RTLD_LOCAL)) return lib;
    tried += (tried.empty() ? "" : ", ") + n;
  }
  *why = str_cat(what, " could not be loaded (tried ", tried, ")");
  return nullptr;
}

}  // namespace kasmina::ops

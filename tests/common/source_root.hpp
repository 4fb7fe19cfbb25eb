// The source tree the tests read configs from: KASMINA_SOURCE_ROOT (meson test sets it), else
// the working directory.
#pragma once
#include <cstdlib>
#include <string>

namespace kasmina::testing {

inline std::string source_root() {
  const char* r = std::getenv("KASMINA_SOURCE_ROOT");
  return r ? r : ".";
}

}  // namespace kasmina::testing

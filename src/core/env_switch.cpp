#include "core/env_switch.hpp"

#include <cstdlib>
#include <string>

#include "core/error.hpp"

namespace kasmina {

bool env_switch(const char* name, bool fallback) {
  const char* p = std::getenv(name);
  if (p == nullptr || *p == '\0') return fallback;
  const std::string v = p;
  if (v != "0" && v != "1")
    throw UserError(std::string("environment variable ") + name + ": '" + v +
                    "' is not allowed (allowed: 0, 1)");
  return v == "1";
}

}  // namespace kasmina

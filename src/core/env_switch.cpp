#include "core/env_switch.hpp"

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <string>

#include "core/error.hpp"

namespace kasmina {

std::vector<std::pair<std::string, std::string>> kasmina_environment() {
  std::vector<std::pair<std::string, std::string>> out;
  for (char** e = environ; e && *e; ++e) {
    const std::string entry = *e;
    const size_t eq = entry.find('=');
    if (entry.rfind("KASMINA_", 0) != 0 || eq == std::string::npos) continue;
    out.emplace_back(entry.substr(0, eq), entry.substr(eq + 1));
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::string kasmina_environment_line() {
  std::string line;
  for (const auto& [name, value] : kasmina_environment())
    line += (line.empty() ? "" : " ") + name + "=" + value;
  return line;
}

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

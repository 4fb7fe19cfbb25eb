#include "core/error.hpp"

namespace kasmina {

void throw_internal(const char* file, int line, const std::string& what) {
  throw InternalError(std::string("internal error at ") + file + ":" + std::to_string(line) + ": " +
                      what);
}

}  // namespace kasmina

// Errors as values the user can act on. UserError -> exit code 2; InternalError (and IoError) ->
// exit code 1.
#pragma once
#include <stdexcept>
#include <string>

namespace kasmina {

// A mistake the user can fix (bad config, missing file, bad flag). The message names the file,
// the line, the key and what is allowed. `kasmina` exits with code 2.
class UserError : public std::runtime_error {
 public:
  explicit UserError(const std::string& msg) : std::runtime_error(msg) {}
};

// A failure inside kasmina or its libraries (CUDA error, HDF5 write failure, ...). Exit code 1.
class InternalError : public std::runtime_error {
 public:
  explicit InternalError(const std::string& msg) : std::runtime_error(msg) {}
};

// The system refused to store a file (no space left on device, file too large, I/O error): the
// message names the file and what failed. Exit code 1, reported as an error, not as a bug.
class IoError : public InternalError {
 public:
  explicit IoError(const std::string& msg) : InternalError(msg) {}
};

[[noreturn]] void throw_internal(const char* file, int line, const std::string& what);

}  // namespace kasmina

#define KASMINA_CHECK(cond, msg)                                                  \
  do {                                                                            \
    if (!(cond)) ::kasmina::throw_internal(__FILE__, __LINE__, std::string(msg)); \
  } while (0)

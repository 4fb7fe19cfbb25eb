// KASMINA_ROUTE(dev, op, args...): calls cpu::op(args...) for a CPU device and cuda::op(args...)
// for a CUDA device; in a build without CUDA a CUDA device is a UserError naming the op. Used by
// every dispatch file of src/ops/ (the public ops, the morphogenetic ops, the loss guard).
#pragma once
#include <string>

#include "core/error.hpp"
#include "kasmina_build_config.hpp"

namespace kasmina::ops {

[[noreturn]] inline void throw_no_cuda(const char* op) {
  throw UserError(std::string(op) +
                  ": this kasmina build has no CUDA support (rebuild with -Dcuda=enabled)");
}

}  // namespace kasmina::ops

#if KASMINA_HAS_CUDA
#define KASMINA_ROUTE(dev, name, ...) \
  do {                                \
    if ((dev).is_cpu()) {             \
      return cpu::name(__VA_ARGS__);  \
    }                                 \
    return cuda::name(__VA_ARGS__);   \
  } while (0)
#else
#define KASMINA_ROUTE(dev, name, ...)     \
  do {                                    \
    if ((dev).is_cpu()) {                 \
      return cpu::name(__VA_ARGS__);      \
    }                                     \
    ::kasmina::ops::throw_no_cuda(#name); \
  } while (0)
#endif

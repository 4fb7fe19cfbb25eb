// KASMINA_ROUTE(dev, op, args...): calls cpu::op(args...) for a CPU device and cuda::op(args...)
// for a CUDA device; in a build without CUDA a CUDA device is a UserError naming the op.
// KASMINA_ROUTE_CALL(dev, op, (args...)) is the same with the arguments in parentheses (the form
// KASMINA_OP of op_registry.hpp uses). Every public op routes through one of the two.
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
#define KASMINA_ROUTE_CALL(dev, name, args) \
  do {                                      \
    if ((dev).is_cpu()) {                   \
      return cpu::name args;                \
    }                                       \
    return cuda::name args;                 \
  } while (0)
#else
#define KASMINA_ROUTE_CALL(dev, name, args) \
  do {                                      \
    if ((dev).is_cpu()) {                   \
      return cpu::name args;                \
    }                                       \
    ::kasmina::ops::throw_no_cuda(#name);   \
  } while (0)
#endif

#define KASMINA_ROUTE(dev, name, ...) KASMINA_ROUTE_CALL(dev, name, (__VA_ARGS__))

// The op registry: every op of src/ops is declared ONCE, with KASMINA_OP, and that one line
//   - declares its CPU twin (namespace ops::cpu, src/ops/cpu/ and friends) and its CUDA launcher
//     (namespace ops::cuda, src/ops/cuda/ + kernels/), both with the op's own signature;
//   - defines the public ops:: function, an inline branch on the device of its tensors that
//     calls one of the two (no table lookup, no std::function, nothing added to a step);
//   - registers a descriptor (name, signature, both implementations) that the op table driver
//     (tests/ops/cuda/test_op_table.cpp) iterates: every registered op must have an entry there
//     carrying its CUDA-vs-CPU cases (and gradient cases when it is differentiable).
//
// Adding an op: one KASMINA_OP line in the public header of its family (ops.hpp, morph_ops.hpp,
// loss_guard.hpp), the CPU twin, the kernel + launcher, and one entry in the op table.
//
//   KASMINA_OP(ret, name, (parameters), (arguments), device expression)
//
// An op that validates its arguments before routing (the loss guard) uses KASMINA_OP_TWINS,
// which declares and registers the twins; its public function is then written by hand with
// KASMINA_ROUTE (route.hpp).
#pragma once
#include <vector>

#include "kasmina_build_config.hpp"
#include "ops/route.hpp"

namespace kasmina::ops {

// One registered op. cpu / cuda are the twins' addresses (type-erased; cuda is null in a build
// without CUDA).
struct OpDescriptor {
  const char* name;
  const char* signature;
  void (*cpu)();
  void (*cuda)();
};

// Every op registered so far, in registration order (static initialisation of the TUs that
// include the op headers; complete once main() runs).
const std::vector<OpDescriptor>& registered_ops();
// Looks an op up by name (nullptr when unknown). Test and tool use only: never on a hot path.
const OpDescriptor* find_op(const char* name);

struct OpRegistration {
  explicit OpRegistration(const OpDescriptor& d);
};

template <class Fn>
void (*erase_op_fn(Fn* fn))() {
  return reinterpret_cast<void (*)()>(fn);
}

}  // namespace kasmina::ops

#if KASMINA_HAS_CUDA
#define KASMINA_OP_CUDA_ADDRESS(ret, name, params) \
  ::kasmina::ops::erase_op_fn(static_cast<ret(*) params>(&cuda::name))
#else
#define KASMINA_OP_CUDA_ADDRESS(ret, name, params) nullptr
#endif

// Declares the CPU twin and the CUDA launcher of `name` and registers the op.
#define KASMINA_OP_TWINS(ret, name, params)                                                        \
  namespace cpu {                                                                                  \
  ret name params;                                                                                 \
  }                                                                                                \
  namespace cuda {                                                                                 \
  ret name params;                                                                                 \
  }                                                                                                \
  inline const ::kasmina::ops::OpRegistration name##_op_registration{::kasmina::ops::OpDescriptor{ \
      #name, #params, ::kasmina::ops::erase_op_fn(static_cast<ret(*) params>(&cpu::name)),         \
      KASMINA_OP_CUDA_ADDRESS(ret, name, params)}};

// The twins, the registration and the public function routed by `device` (an expression over
// the parameters).
#define KASMINA_OP(ret, name, params, args, device) \
  KASMINA_OP_TWINS(ret, name, params)               \
  inline ret name params {                          \
    KASMINA_ROUTE_CALL(device, name, args);         \
  }

// The op table of the IR: names, and the keys each op takes (checked by build()).
#include "ir/ops.hpp"

namespace kasmina::ir {

namespace {
constexpr const char* kNames[kOpCount] = {
    "linear",    "add",     "mul", "sub",  "relu", "gelu",  "sigmoid", "tanh",   "silu",
    "layernorm", "rmsnorm", "sum", "mean", "max",  "scale", "shift",   "concat", "slice"};
}  // namespace

const char* op_name(Op op) {
  return kNames[static_cast<int32_t>(op)];
}

bool parse_op(const std::string& name, Op* out) {
  for (int32_t i = 0; i < kOpCount; ++i)
    if (name == kNames[i]) {
      *out = static_cast<Op>(i);
      return true;
    }
  return false;
}

std::string op_names() {
  std::string out;
  for (int32_t i = 0; i < kOpCount; ++i) out += (i ? ", " : "") + std::string(kNames[i]);
  return out;
}

OpKeys op_keys(Op op) {
  switch (op) {
    case Op::linear:
      return {1, 1, true, false, false, false, true};
    case Op::add:
    case Op::mul:
    case Op::sub:
      return {2, 2, false, false, false, false, false};
    case Op::layernorm:
    case Op::rmsnorm:
      return {1, 1, false, false, true, false, false};
    case Op::scale:
    case Op::shift:
      return {1, 1, false, true, false, false, true};
    case Op::concat:
      return {2, 64, false, false, false, false, false};
    case Op::slice:
      return {1, 1, false, false, false, true, false};
    default:  // activations and reductions
      return {1, 1, false, false, false, false, false};
  }
}

bool commutative(Op op) {
  return op == Op::add || op == Op::mul;
}

}  // namespace kasmina::ir

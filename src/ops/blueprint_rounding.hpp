// The arithmetic of the generated row functions, spelled out: every multiply, add, subtract,
// fused multiply-add, division and square root is a CUDA intrinsic with its rounding named
// (__fmul_rn, __fadd_rn, __fsub_rn, __fmaf_rn, __fdiv_rn, __fsqrt_rn). NVVM and ptxas contract a
// plain `a * b + c` into one fused multiply-add where their optimisation finds the pair, so the
// same source compiled at two optimisation levels (the linked module's row programs with
// --Ofast-compile=min, the fused module's with the full optimisation) could round differently;
// an intrinsic is never contracted, split or reordered, so the row functions compute the same
// bits in both (src/ir/README.md, "Tiered compiles"). The libdevice functions they call (expf,
// tanhf) contract nothing of their own (tests/ir/test_blueprint_rounding.cpp checks the machine
// code with and without --fmad=false).
#pragma once
#include <string>

namespace kasmina::ops::rn {

inline std::string call(const char* f, const std::string& a, const std::string& b) {
  return std::string(f) + "(" + a + ", " + b + ")";
}
inline std::string mul(const std::string& a, const std::string& b) {
  return call("__fmul_rn", a, b);
}
inline std::string add(const std::string& a, const std::string& b) {
  return call("__fadd_rn", a, b);
}
inline std::string sub(const std::string& a, const std::string& b) {
  return call("__fsub_rn", a, b);
}
inline std::string div(const std::string& a, const std::string& b) {
  return call("__fdiv_rn", a, b);
}
// a * b + c, rounded once.
inline std::string fma(const std::string& a, const std::string& b, const std::string& c) {
  return "__fmaf_rn(" + a + ", " + b + ", " + c + ")";
}
inline std::string sqrt(const std::string& a) {
  return "__fsqrt_rn(" + a + ")";
}
// The statement `target = target OP value` (an accumulation), as `target op= value` reads.
inline std::string add_to(const std::string& target, const std::string& value) {
  return target + " = " + add(target, value) + ";";
}
inline std::string sub_from(const std::string& target, const std::string& value) {
  return target + " = " + sub(target, value) + ";";
}
// target += a * b, rounded once.
inline std::string fma_to(const std::string& target, const std::string& a, const std::string& b) {
  return target + " = " + fma(a, b, target) + ";";
}

}  // namespace kasmina::ops::rn

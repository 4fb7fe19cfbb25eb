// The op table: one entry per op (or per small group of ops checked together), each carrying
// its test cases for the three modes of the op table driver (test_op_table.cpp):
//   correctness  CUDA against the CPU twin on random inputs (skips without a GPU);
//   gradients    the backward against central finite differences, in float64 on the CPU;
//   perf         timings of the op on the CUDA device (the CPU without one); printed, never
//                asserted.
// Every op registered with KASMINA_OP (src/ops/op_registry.hpp) must be named by an entry's
// `ops`; every differentiable op by an entry's `grad_ops` (the driver checks both).
//
// An entry registers itself from its own file:
//   KASMINA_OP_TABLE_ENTRY(linear_forward) {
//     OpTestEntry e;  e.ops = {...};  e.correctness = [] { return std::vector<OpCase>{...}; };
//     return e;
//   }
#pragma once
#include <gtest/gtest.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "core/tensor.hpp"

namespace kasmina::op_table {

// One test of one mode: a name (letters, digits and '_', unique within the entry) and its body
// (gtest assertions; correctness bodies run only when a CUDA device is there).
struct OpCase {
  std::string name;
  std::function<void()> run;
};

using CaseList = std::function<std::vector<OpCase>()>;

struct OpTestEntry {
  std::string name;                       // test suite names are <Mode>_<name>
  std::vector<std::string> ops;           // registered ops its correctness cases compare
  std::vector<std::string> grad_ops;      // registered ops its gradient cases check
  CaseList correctness, gradients, perf;  // each may be empty
};

std::vector<OpTestEntry>& entries();

struct EntryRegistration {
  EntryRegistration(const char* name, OpTestEntry (*make)());
};

#define KASMINA_OP_TABLE_ENTRY(entry_name)                                    \
  static ::kasmina::op_table::OpTestEntry make_entry_##entry_name();          \
  static const ::kasmina::op_table::EntryRegistration entry_reg_##entry_name{ \
      #entry_name, &make_entry_##entry_name};                                 \
  static ::kasmina::op_table::OpTestEntry make_entry_##entry_name()

// ---- case generators (the shapes the old hand-written suites used, and more) ----

// One case per parameter set: named by name(p), running run(p).
template <class P, class Name, class Run>
std::vector<OpCase> cases_over(const std::vector<P>& params, Name name, Run run) {
  std::vector<OpCase> out;
  for (const P& p : params) out.push_back({name(p), [p, run] { run(p); }});
  return out;
}

// Sizes that catch edge handling: 1, small odd, just past a power of two, large.
inline const std::vector<int64_t>& odd_rows() {
  static const std::vector<int64_t> v = {1, 7, 129, 1000, 4099};
  return v;
}
// "M<m>_N<n>" style fragments for case names.
inline std::string dims(std::initializer_list<std::pair<const char*, int64_t>> parts) {
  std::string out;
  for (const auto& [k, v] : parts) {
    if (!out.empty()) out += '_';
    out += k;
    out += std::to_string(v);
  }
  return out;
}
inline std::string shape_name(const Shape& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (i) out += 'x';
    out += std::to_string(s[i]);
  }
  return out;
}
// A float as a name fragment: 0.5 -> "0p5".
inline std::string num_name(double v) {
  std::string s = std::to_string(v);
  while (s.size() > 1 && s.back() == '0') s.pop_back();
  if (!s.empty() && s.back() == '.') s.pop_back();
  for (char& c : s) {
    if (c == '.') c = 'p';
    if (c == '-') c = 'm';
  }
  return s;
}

// ---- perf mode ----

// The device perf cases run on: cuda:0 when there is one, else the CPU.
Device perf_device();
// Runs `fn` a few times to warm up, then `iters` times, synchronising the device, and prints
// "[ perf     ] <what>: <us> us per call (<device>)".
void time_op(const std::string& what, Device dev, const std::function<void()>& fn, int iters = 20);

}  // namespace kasmina::op_table

// The controller's state as named host tensors and scalars, the shape a checkpoint stores
// (names are relative; the trainer prefixes them, e.g. "controller/"). Restoring what was saved
// reproduces the controller bit for bit.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "core/tensor.hpp"

namespace kasmina::control {

struct ControllerState {
  std::vector<std::pair<std::string, Tensor>> tensors;  // host tensors
  std::map<std::string, int64_t> ints;
  std::map<std::string, double> floats;

  const Tensor* find(const std::string& name) const;
  // The tensor `name`; UserError naming it when missing or of another dtype (a checkpoint that
  // does not fit this run), as for get_int and get_float.
  const Tensor& get(const std::string& name, DType dtype) const;
  int64_t get_int(const std::string& name) const;
  double get_float(const std::string& name) const;
};

// Throws UserError "checkpoint: controller state: <what>".
[[noreturn]] void unfit(const std::string& what);

}  // namespace kasmina::control

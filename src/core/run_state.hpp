// RunState: everything a run needs to continue bit for bit from a step boundary (host copies of
// every device tensor plus the host counters). Each stateful component writes and reads its own
// section of it through core/stateful.hpp; src/io/run_checkpoint.hpp maps it to and from a
// checkpoint file. Names follow the checkpoint layout of docs/FORMATS.md:
// model parameters under their own names ("layers.0.weight"), optimizer moments under
// "optimizer/m/..." and "optimizer/v/...", seed state under "seeds/kasmina<k>/<field>".
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "core/tensor.hpp"

namespace kasmina {

struct RunState {
  int64_t global_step = 0;                              // optimizer steps taken
  int64_t epoch = 0;                                    // 0-based epoch the next step belongs to
  int64_t epoch_step = 0;                               // steps of `epoch` already taken
  std::vector<std::pair<std::string, Tensor>> tensors;  // host tensors
  std::map<std::string, int64_t> ints;
  std::map<std::string, double> floats;

  const Tensor* find(const std::string& name) const;
  // The tensor `name`; UserError naming it when it is missing (a checkpoint of another model).
  const Tensor& get(const std::string& name) const;
  int64_t get_int(const std::string& name) const;
  double get_float(const std::string& name) const;
};

// A host copy of `t` (synchronous for device tensors).
Tensor host_copy(const Tensor& t);

}  // namespace kasmina

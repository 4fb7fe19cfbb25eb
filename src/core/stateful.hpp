// The checkpoint-section interface: every stateful component (a layer, the optimizer, the loss
// guard, the controller, the data order, the training loop) saves and restores its own part of
// a RunState through a StateWriter / StateReader, which are views of the RunState under a name
// prefix ("seeds/kasmina0/", "controller/", or the root ""). Entry names are the full names of
// docs/FORMATS.md once the prefix is added; a component never sees another's entries.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "core/run_state.hpp"
#include "core/tensor.hpp"

namespace kasmina {

class StateWriter {
 public:
  explicit StateWriter(RunState& state, std::string prefix = {});
  // The view of the section `name` below this one ("a" under "x/" is "x/a/").
  StateWriter section(const std::string& name) const;
  const std::string& prefix() const { return prefix_; }
  const RunState& run() const { return *state_; }  // the position (step, epoch) being saved

  // Stores a host copy of `t` (synchronous for a device tensor), appended in call order.
  void tensor(const std::string& name, const Tensor& t);
  void integer(const std::string& name, int64_t value);
  void number(const std::string& name, double value);

 private:
  RunState* state_;
  std::string prefix_;
};

class StateReader {
 public:
  explicit StateReader(const RunState& state, std::string prefix = {});
  StateReader section(const std::string& name) const;
  const std::string& prefix() const { return prefix_; }
  const RunState& run() const { return *state_; }  // the position (step, epoch) being restored

  const Tensor* find(const std::string& name) const;
  // The tensor `name`; UserError naming it (full name) when missing.
  const Tensor& tensor(const std::string& name) const;
  // Copies the tensor `name` into `dst`; UserError when missing or of another shape or dtype.
  void load(const std::string& name, Tensor dst) const;
  bool has_integer(const std::string& name) const;
  int64_t integer(const std::string& name) const;  // UserError when missing
  double number(const std::string& name) const;    // UserError when missing

  // Every entry of this section, names relative to it (tensors in stored order).
  std::vector<std::pair<std::string, Tensor>> tensors() const;
  std::map<std::string, int64_t> integers() const;
  std::map<std::string, double> numbers() const;

 private:
  const RunState* state_;
  std::string prefix_;
};

// A component with a checkpoint section. save_state runs between steps on a synchronized
// device; load_state restores exactly what save_state wrote (a later save_state gives the same
// entries, bit for bit) or throws UserError naming the entry that does not fit this run.
class Stateful {
 public:
  virtual ~Stateful() = default;
  virtual void save_state(StateWriter& out) const = 0;
  virtual void load_state(const StateReader& in) = 0;
};

}  // namespace kasmina

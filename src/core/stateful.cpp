#include "core/stateful.hpp"

#include "core/error.hpp"

namespace kasmina {

namespace {

std::string shape_text(const Shape& shape) {
  std::string s;
  for (int64_t d : shape) {
    if (!s.empty()) s += 'x';
    s += std::to_string(d);
  }
  return s;
}

// Entries of `m` whose name starts with `prefix`, the prefix removed.
template <class T>
std::map<std::string, T> under(const std::map<std::string, T>& m, const std::string& prefix) {
  std::map<std::string, T> out;
  for (auto it = m.lower_bound(prefix); it != m.end() && it->first.rfind(prefix, 0) == 0; ++it)
    out.emplace(it->first.substr(prefix.size()), it->second);
  return out;
}

}  // namespace

StateWriter::StateWriter(RunState& state, std::string prefix)
    : state_(&state), prefix_(std::move(prefix)) {}

StateWriter StateWriter::section(const std::string& name) const {
  return StateWriter(*state_, prefix_ + name + "/");
}

void StateWriter::tensor(const std::string& name, const Tensor& t) {
  state_->tensors.emplace_back(prefix_ + name, host_copy(t));
}

void StateWriter::integer(const std::string& name, int64_t value) {
  state_->ints[prefix_ + name] = value;
}

void StateWriter::number(const std::string& name, double value) {
  state_->floats[prefix_ + name] = value;
}

StateReader::StateReader(const RunState& state, std::string prefix)
    : state_(&state), prefix_(std::move(prefix)) {}

StateReader StateReader::section(const std::string& name) const {
  return StateReader(*state_, prefix_ + name + "/");
}

const Tensor* StateReader::find(const std::string& name) const {
  return state_->find(prefix_ + name);
}

const Tensor& StateReader::tensor(const std::string& name) const {
  return state_->get(prefix_ + name);
}

void StateReader::load(const std::string& name, Tensor dst) const {
  const Tensor& src = tensor(name);
  if (src.dtype() != dst.dtype())
    throw UserError("checkpoint: tensor '" + prefix_ + name + "' has dtype " +
                    dtype_name(src.dtype()) + " but this run's model has " +
                    dtype_name(dst.dtype()));
  if (src.shape() != dst.shape())
    throw UserError("checkpoint: tensor '" + prefix_ + name + "' has shape [" +
                    shape_text(src.shape()) + "] but this run's model has [" +
                    shape_text(dst.shape()) + "] (a different model configuration)");
  if (dst.numel() > 0) dst.copy_from(src);
}

bool StateReader::has_integer(const std::string& name) const {
  return state_->ints.count(prefix_ + name) > 0;
}

int64_t StateReader::integer(const std::string& name) const {
  return state_->get_int(prefix_ + name);
}

double StateReader::number(const std::string& name) const {
  return state_->get_float(prefix_ + name);
}

std::vector<std::pair<std::string, Tensor>> StateReader::tensors() const {
  std::vector<std::pair<std::string, Tensor>> out;
  for (const auto& [n, t] : state_->tensors)
    if (n.rfind(prefix_, 0) == 0) out.emplace_back(n.substr(prefix_.size()), t);
  return out;
}

std::map<std::string, int64_t> StateReader::integers() const {
  return under(state_->ints, prefix_);
}

std::map<std::string, double> StateReader::numbers() const {
  return under(state_->floats, prefix_);
}

}  // namespace kasmina

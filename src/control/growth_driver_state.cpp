// The growth driver's checkpoint entries: the kept pre-germination losses,
// "growth/pregermination/<layer>/<seed>" (float64 [samples]).
#include <charconv>
#include <string>

#include "control/growth_driver.hpp"
#include "core/error.hpp"

namespace kasmina::control {

namespace {

int32_t index_part(const std::string& part, const std::string& name, const std::string& what,
                   int32_t limit) {
  int32_t v = -1;
  const char* end = part.data() + part.size();
  const auto [ptr, ec] = std::from_chars(part.data(), end, v);
  if (part.empty() || ec != std::errc() || ptr != end || v < 0 || v >= limit)
    throw UserError("checkpoint: tensor '" + name + "': '" + part + "' is not " + what + " (0.." +
                    std::to_string(limit - 1) + ")");
  return v;
}

}  // namespace

void GrowthDriver::save_state(StateWriter& out) const {
  for (const auto& [key, losses] : pre_)
    out.tensor(
        "growth/pregermination/" + std::to_string(key.first) + "/" + std::to_string(key.second),
        Tensor::from_vector(losses, {static_cast<int64_t>(losses.size())}));
}

void GrowthDriver::load_state(const StateReader& in) {
  pre_.clear();
  const StateReader sec = in.section("growth/pregermination");
  for (const auto& [rest, t] : sec.tensors()) {
    const std::string name = sec.prefix() + rest;
    const size_t slash = rest.find('/');
    const std::string layer_text = rest.substr(0, slash);
    const std::string seed_text = slash == std::string::npos ? "" : rest.substr(slash + 1);
    const int32_t layer = index_part(layer_text, name, "a morphogenetic layer's index",
                                     static_cast<int32_t>(layers_.size()));
    int32_t seeds = 0;
    for (const morph::KasminaLayer* l : layers_)
      if (l->config().layer_index == layer) seeds = l->config().seeds;
    const int32_t seed = index_part(seed_text, name, "a seed of that layer", seeds);
    if (t.shape().size() != 1 || t.dtype() != DType::f64)
      throw UserError("checkpoint: tensor '" + name + "' is not float64 [samples]");
    pre_[{layer, seed}] = t.to_vector<double>();
  }
}

}  // namespace kasmina::control

#include "io/checkpoint_values.hpp"

#include <cstring>

#include "morph/blueprint_registry.hpp"
#include "morph/seed_state_check.hpp"

namespace kasmina::io {

namespace {

constexpr const char* kSeedsPrefix = "seeds/";
constexpr const char* kStageSuffix = "/stage";

// The tensor `layer/name` when it is a 1-D array of `dtype` (and `numel` elements when >= 0).
const Tensor* seed_array(const CheckpointState& s, const std::string& layer,
                         const std::string& name, DType dtype, int64_t numel) {
  const Tensor* t = s.find_tensor(layer + "/" + name);
  if (t == nullptr || t->dtype() != dtype || t->shape().size() != 1 ||
      (numel >= 0 && t->numel() != numel))
    return nullptr;
  return t;
}

// The layer's seed state when its section holds a complete one (every field and the slot table,
// of their dtypes and sizes, as a run writes them); other layouts are only summarised.
void check_layer(const std::string& path, const CheckpointState& s, const std::string& layer) {
  const Tensor* stage = seed_array(s, layer, "stage", DType::i32, -1);
  const Tensor* owners = seed_array(s, layer, "slot_owner", DType::i32, -1);
  if (stage == nullptr || owners == nullptr) return;
  const auto seeds = static_cast<int32_t>(stage->numel());
  morph::HostSeedState host = morph::SeedState::initial_host_state(seeds);
  for (int32_t f = 0; f < morph::kSeedFieldCount; ++f) {
    const auto field = static_cast<morph::SeedField>(f);
    const Tensor* t =
        seed_array(s, layer, morph::seed_field_name(field),
                   morph::seed_field_is_float(field) ? DType::f32 : DType::i32, seeds);
    if (t == nullptr) return;
    std::memcpy(host.words.data() + static_cast<size_t>(f) * static_cast<size_t>(seeds), t->raw(),
                t->nbytes());
  }
  morph::MorphConfig any;  // any registered blueprint: the layer's own list is not known here
  any.allowed_blueprints.clear();
  for (const std::string& name : morph::blueprint_names())
    any.allowed_blueprints.push_back(
        static_cast<morph::BlueprintKind>(morph::find_blueprint(name)->kind));
  if (const morph::SeedStateProblem p =
          morph::seed_state_problem(host, owners->to_vector<int32_t>(), any))
    throw UserError(path + ": tensor '" + layer + "/" + p.field + "': " + p.text);
}

}  // namespace

void check_checkpoint_values(const std::string& path, const CheckpointState& state) {
  const std::string prefix = kSeedsPrefix, suffix = kStageSuffix;
  for (const NamedTensor& t : state.tensors) {
    const std::string& n = t.name;
    if (n.size() > prefix.size() + suffix.size() && n.rfind(prefix, 0) == 0 &&
        n.compare(n.size() - suffix.size(), suffix.size(), suffix) == 0 &&
        n.find('/', prefix.size()) == n.size() - suffix.size())
      check_layer(path, state, n.substr(0, n.size() - suffix.size()));
  }
}

}  // namespace kasmina::io

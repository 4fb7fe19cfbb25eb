#include "io/checkpoint_values.hpp"

#include <cstring>

#include "morph/blueprint_registry.hpp"
#include "morph/seed_state_check.hpp"

namespace kasmina::io {

namespace {

constexpr const char* kSeedsPrefix = "seeds/";
constexpr const char* kStageSuffix = "/stage";

// The tensor `layer/name`, of `dtype` and `numel` elements (numel < 0: any).
const Tensor& seed_tensor(const std::string& path, const CheckpointState& s,
                          const std::string& layer, const std::string& name, DType dtype,
                          int64_t numel) {
  const std::string full = layer + "/" + name;
  const Tensor* t = s.find_tensor(full);
  auto bad = [&](const std::string& what) {
    return UserError(path + ": tensor '" + full + "' " + what);
  };
  if (t == nullptr) throw bad("is missing");
  if (t->dtype() != dtype)
    throw bad(std::string("has dtype ") + dtype_name(t->dtype()) + ", expected " +
              dtype_name(dtype));
  if (t->shape().size() != 1 || (numel >= 0 && t->numel() != numel))
    throw bad("has shape " + shape_str(t->shape()) + ", expected [" +
              (numel >= 0 ? std::to_string(numel) : std::string("n")) + "]");
  return *t;
}

void check_layer(const std::string& path, const CheckpointState& s, const std::string& layer) {
  const Tensor& stage = seed_tensor(path, s, layer, "stage", DType::i32, -1);
  const auto seeds = static_cast<int32_t>(stage.numel());
  morph::HostSeedState host = morph::SeedState::initial_host_state(seeds);
  for (int32_t f = 0; f < morph::kSeedFieldCount; ++f) {
    const auto field = static_cast<morph::SeedField>(f);
    const Tensor& t =
        seed_tensor(path, s, layer, morph::seed_field_name(field),
                    morph::seed_field_is_float(field) ? DType::f32 : DType::i32, seeds);
    std::memcpy(host.words.data() + static_cast<size_t>(f) * static_cast<size_t>(seeds), t.raw(),
                t.nbytes());
  }
  const std::vector<int32_t> owners =
      seed_tensor(path, s, layer, "slot_owner", DType::i32, -1).to_vector<int32_t>();
  morph::MorphConfig any;  // any registered blueprint: the layer's own list is not known here
  any.allowed_blueprints.clear();
  for (const std::string& name : morph::blueprint_names())
    any.allowed_blueprints.push_back(
        static_cast<morph::BlueprintKind>(morph::find_blueprint(name)->kind));
  if (const morph::SeedStateProblem p = morph::seed_state_problem(host, owners, any))
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

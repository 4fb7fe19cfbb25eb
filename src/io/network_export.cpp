#include "io/network_export.hpp"

#include <cstring>
#include <map>

#include "config/layers/dropout.hpp"
#include "config/layers/kasmina.hpp"
#include "config/layers/layernorm.hpp"
#include "config/layers/linear.hpp"
#include "config/layers/residual.hpp"
#include "core/error.hpp"
#include "morph/blueprint_pool.hpp"
#include "morph/blueprint_registry.hpp"
#include "morph/stage.hpp"
#include "nn/kasmina_layer.hpp"

namespace kasmina::io {

namespace {

using json = nlohmann::ordered_json;

// The names of a built-in blueprint's parameter blocks, in packing order (morph/blueprint_*.hpp).
const std::map<std::string, std::vector<std::string>>& part_names() {
  static const std::map<std::string, std::vector<std::string>> names = {
      {"residual_mlp", {"W1", "b1", "W2", "b2"}},
      {"low_rank", {"A", "B"}},
      {"diag_scale", {"s", "t"}},
      {"row_mlp", {"W1", "b1", "W2", "b2"}}};
  return names;
}

bool stage_is_live(int32_t stage) {
  return stage != static_cast<int32_t>(morph::Stage::dormant) && !morph::stage_is_exit(stage);
}

class Exporter {
 public:
  Exporter(Model& model, NetworkExport& out) : model_(model), out_(out) {
    for (Parameter* p : model.parameters()) params_.emplace(p->name, p->value);
  }

  json layers(const std::vector<LayerConfig>& cfgs, const std::string& prefix, int64_t& width) {
    json list = json::array();
    for (size_t i = 0; i < cfgs.size(); ++i) {
      const std::string name = prefix + "layers." + std::to_string(i);
      list.push_back(layer(cfgs[i], name, width));
    }
    return list;
  }

  void finish() {
    KASMINA_CHECK(host_tensors_ == params_.size() && next_morph_ == model_.morph_layers().size(),
                  "export: the model's parameters and the config's layers do not match");
  }
  int64_t host_parameters() const { return host_parameters_; }
  int64_t seed_parameters() const { return seed_parameters_; }

 private:
  void add(const std::string& name, const Tensor& t) { out_.tensors.push_back({name, t}); }

  std::string host(const std::string& name) {
    const auto it = params_.find(name);
    KASMINA_CHECK(it != params_.end(), "export: the model has no parameter '" + name + "'");
    add(name, it->second);
    ++host_tensors_;
    host_parameters_ += it->second.numel();
    return name;
  }

  json layer(const LayerConfig& c, const std::string& name, int64_t& width) {
    json j = {{"name", name}, {"type", to_string(c.type)}};
    switch (c.type) {
      case LayerType::linear: {
        const auto& l = c.as<LinearConfig>();
        j["in"] = width;
        j["out"] = l.out;
        j["weight"] = host(name + ".weight");
        j["bias"] = l.bias ? json(host(name + ".bias")) : json(nullptr);
        width = l.out;
        break;
      }
      case LayerType::layernorm:
        j["width"] = width;
        j["eps"] = c.as<LayerNormConfig>().eps;
        j["weight"] = host(name + ".weight");
        j["bias"] = host(name + ".bias");
        break;
      case LayerType::dropout:
        j["width"] = width;
        j["p"] = c.as<DropoutConfig>().p;
        break;
      case LayerType::residual: {
        j["width"] = width;
        int64_t body_width = width;
        const ResidualConfig& r = c.as<ResidualConfig>();
        if (!r.shortcut.empty()) {
          throw UserError("export: the residual block " + name +
                          " has a shortcut, which export does not write yet");
        }
        j["layers"] = layers(r.layers, name + ".", body_width);
        break;
      }
      case LayerType::kasmina:
        KASMINA_CHECK(next_morph_ < model_.morph_layers().size(), "export: kasmina layer count");
        kasmina(*model_.morph_layers()[next_morph_++], name, width, j);
        break;
      case LayerType::relu:
      case LayerType::gelu:
        j["width"] = width;
        break;
      default:
        throw UserError("export: the layer " + name + " (type " + to_string(c.type) +
                        ") cannot be exported yet: export writes networks of linear, relu, "
                        "gelu, layernorm, dropout, residual and kasmina layers");
    }
    return j;
  }

  void kasmina(morph::KasminaLayer& layer, const std::string& name, int64_t width, json& j) {
    const morph::MorphConfig& m = layer.config();
    const int32_t C = layer.chunk();
    j["width"] = width;
    j["layer_index"] = m.layer_index;
    j["seeds"] = m.seeds;
    j["chunk"] = C;
    j["hidden"] = m.hidden;
    j["rank"] = m.rank;
    morph::HostSeedState host = layer.seed_state().download();
    const morph::SeedStateView st = host.view();
    const auto seed_array = [&](const char* field, const void* values, DType dtype) {
      Tensor t = Tensor::empty({m.seeds}, dtype);
      std::memcpy(t.raw(), values, t.nbytes());
      add(name + ".seeds." + field, t);
      return name + ".seeds." + field;
    };
    j["seed_stage"] = seed_array("stage", st.stage, DType::i32);
    j["seed_alpha"] = seed_array("alpha", st.alpha, DType::f32);
    j["seed_blueprint"] = seed_array("blueprint", st.blueprint, DType::i32);

    const ops::MorphLayerBuffers& buf = layer.buffers();
    const Tensor pool = buf.pool.to(Device::cpu());
    KASMINA_CHECK(pool.dtype() == DType::f32, "export: the blueprint pool is not float32");
    std::vector<int32_t> owner(static_cast<size_t>(buf.pool_slots));
    const morph::PoolView<const float> view{pool.data<float>(), owner.data(), buf.pool_slots,
                                            buf.pool_region};
    json seeds = json::array();
    for (int32_t s = 0; s < m.seeds; ++s) {
      if (!stage_is_live(st.stage[s]) || st.slot[s] < 0) continue;
      KASMINA_CHECK(st.slot[s] < buf.pool_slots, "export: seed slot outside the pool");
      const morph::BlueprintDescriptor* bp = morph::find_blueprint(st.blueprint[s]);
      if (!bp)
        throw UserError("export: seed " + std::to_string(s) + " of " + name +
                        " holds blueprint id " + std::to_string(st.blueprint[s]) +
                        ", which this kasmina does not know");
      json seed = {{"seed", s},
                   {"stage", morph::stage_name(static_cast<morph::Stage>(st.stage[s]))},
                   {"alpha", st.alpha[s]},
                   {"blended", morph::blend_applies(st.stage[s], st.alpha[s])},
                   {"blueprint", bp->name},
                   {"blueprint_id", st.blueprint[s]},
                   {"columns", {int64_t{s} * C, int64_t{s + 1} * C}}};
      seed["tensors"] =
          blueprint_tensors(*bp, buf.shape, view.at(st.slot[s], morph::PoolRegion::params),
                            name + ".seeds." + std::to_string(s) + ".");
      seeds.push_back(seed);
    }
    j["live_seeds"] = seeds;
  }

  // The blueprint's parameters as one tensor per parameter block, named `prefix<part>`.
  json blueprint_tensors(const morph::BlueprintDescriptor& bp, const morph::BlueprintShape& sh,
                         const float* params, const std::string& prefix) {
    morph::GradBlock blocks[morph::kMaxGradBlocks];
    const int32_t n = bp.grad_blocks(bp, sh, blocks);
    const auto names = part_names().find(bp.name);
    json parts = json::object();
    int64_t offset = 0;
    for (int32_t k = 0; k < n; ++k) {
      const morph::GradBlock& b = blocks[k];
      const Shape shape = b.diag || b.nb == 1 ? Shape{b.na} : Shape{b.na, b.nb};
      std::string part;
      if (names != part_names().end() && static_cast<size_t>(k) < names->second.size()) {
        part = names->second[static_cast<size_t>(k)];
      } else {
        part = 'p';
        part += std::to_string(k);
      }
      Tensor t = Tensor::empty(shape, DType::f32);
      std::memcpy(t.raw(), params + offset, t.nbytes());
      add(prefix + part, t);
      parts[part] = prefix + part;
      offset += b.size();
    }
    KASMINA_CHECK(offset == bp.param_count(bp, sh),
                  "export: blueprint '" + bp.name + "' parameter blocks do not add up");
    seed_parameters_ += offset;
    return parts;
  }

  Model& model_;
  NetworkExport& out_;
  std::map<std::string, Tensor> params_;
  size_t host_tensors_ = 0;
  size_t next_morph_ = 0;
  int64_t host_parameters_ = 0;
  int64_t seed_parameters_ = 0;
};

}  // namespace

NetworkExport export_network(const Config& cfg, Model& model, const NetworkInput& input) {
  NetworkExport out;
  Exporter ex(model, out);
  json d;
  d["format"] = "kasmina-network";
  d["format_version"] = 1;
  d["input"] = {{"features", input.features},
                {"dataset", to_string(cfg.data.dataset)},
                {"scale", input.scale},
                {"shift", input.shift}};
  d["classes"] = input.classes;
  d["class_names"] = input.class_names;
  d["gelu"] = "tanh";
  int64_t width = input.features;
  d["layers"] = ex.layers(cfg.model.layers, "", width);
  ex.finish();
  d["parameters"] = {{"host", ex.host_parameters()}, {"seeds", ex.seed_parameters()}};
  out.model = d;
  return out;
}

}  // namespace kasmina::io

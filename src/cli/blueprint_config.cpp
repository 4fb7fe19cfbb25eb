#include "cli/blueprint_config.hpp"

#include "config/config.hpp"
#include "nn/kasmina_layer.hpp"
#include "nn/model.hpp"
#include "ops/ops.hpp"

namespace kasmina::cli {

std::vector<IrLayerWork> ir_layer_work(const std::string& config_path) {
  const Config cfg = load_config(config_path);
  // The layers' widths as the model builds them (on the CPU; nothing is prepared or trained).
  const Model model(cfg.model, dataset_shape(cfg.data).features, cfg.seed, Device::cpu());
  std::vector<IrLayerWork> out;
  for (const morph::KasminaLayer* layer : model.morph_layers()) {
    const morph::MorphConfig& m = layer->config();
    const morph::BlueprintShape sh = layer->blueprint_shape();
    for (const morph::BlueprintKind k : m.allowed_blueprints) {
      const morph::BlueprintDescriptor* d = morph::find_blueprint(static_cast<int32_t>(k));
      const ir::IrBlueprint* bp = d ? ir::ir_blueprint_of(*d) : nullptr;
      if (!bp) continue;
      bool seen = false;
      for (const IrLayerWork& w : out)
        seen = seen ||
               (w.blueprint == bp && w.shape.chunk == sh.chunk && w.shape.hidden == sh.hidden &&
                w.shape.rank == sh.rank && w.batch == cfg.train.batch_size && w.seeds == m.seeds);
      if (!seen)
        out.push_back(
            {m.layer_index, d->name, bp, sh, m.seeds, m.pool_slots, cfg.train.batch_size});
    }
  }
  return out;
}

std::string work_label(const IrLayerWork& w) {
  return w.name + " C=" + std::to_string(w.shape.chunk) + " h=" + std::to_string(w.shape.hidden) +
         " r=" + std::to_string(w.shape.rank) + " f32";
}

std::string target_arch(const std::string& given) {
  if (!given.empty()) return given;
  ops::init();
  const std::vector<ops::CudaDeviceInfo> devs = ops::list_cuda_devices();
  if (devs.empty()) return "sm_90";
  return "sm_" + std::to_string(devs[0].cc_major * 10 + devs[0].cc_minor);
}

}  // namespace kasmina::cli

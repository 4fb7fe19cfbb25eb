#include "io/resume_config.hpp"

#include "config/layers/kasmina.hpp"
#include "config/layers/linear.hpp"

namespace kasmina::io {

namespace {

std::string describe_layer(const LayerConfig& l) {
  std::string s = to_string(l.type);
  if (l.params.holds<LinearConfig>() && l.as<LinearConfig>().out > 0)
    s += " out " + std::to_string(l.as<LinearConfig>().out);
  if (l.type == LayerType::kasmina) {
    const KasminaConfig& k = l.as<KasminaConfig>();
    s += " seeds " + std::to_string(k.seeds) + " hidden " + std::to_string(k.hidden) + " rank " +
         std::to_string(k.rank) + " pool_slots " + std::to_string(k.pool_slots) + " blueprints [";
    for (size_t i = 0; i < k.blueprints.size(); ++i) s += (i ? "," : "") + k.blueprints[i];
    s += "]";
  }
  return s;
}

// Config structs compared without the source line numbers they carry for messages.
LayerConfig without_line(LayerConfig l) {
  l.line = 0;
  return l;
}
std::vector<GerminationConfig> without_lines(std::vector<GerminationConfig> g) {
  for (GerminationConfig& x : g) x.line = 0;
  return g;
}

}  // namespace

ConfigChanges compare_for_resume(const Config& saved, const Config& now) {
  ConfigChanges ch;
  auto number = [](const std::string& key, int64_t a, int64_t b) {
    return key + ": " + std::to_string(a) + " -> " + std::to_string(b);
  };

  // The model, layer by layer, so the message names the layer that differs.
  const auto& la = saved.model.layers;
  const auto& lb = now.model.layers;
  if (la.size() != lb.size()) {
    ch.refused.push_back("model.layers: " + std::to_string(la.size()) +
                         " layers in the checkpoint, " + std::to_string(lb.size()) + " now");
  } else {
    for (size_t i = 0; i < la.size(); ++i)
      if (!(without_line(la[i]) == without_line(lb[i])))
        ch.refused.push_back(
            "model.layers[" + std::to_string(i) + "]: " + describe_layer(la[i]) +
            " in the checkpoint, " + describe_layer(lb[i]) + " now" +
            (describe_layer(la[i]) == describe_layer(lb[i]) ? " (other options differ)" : ""));
  }
  if (saved.model.init != now.model.init)
    ch.refused.push_back("model.init: " + saved.model.init + " -> " + now.model.init);
  if (saved.seed != now.seed)
    ch.refused.push_back(
        number("seed", static_cast<int64_t>(saved.seed), static_cast<int64_t>(now.seed)));
  if (!(saved.optimizer == now.optimizer)) ch.refused.push_back("optimizer: differs");
  if (!(saved.lr_schedule == now.lr_schedule)) ch.refused.push_back("lr_schedule: differs");
  if (!(without_lines(saved.schedule) == without_lines(now.schedule)))
    ch.refused.push_back("schedule: differs");
  if (!(saved.controller == now.controller)) ch.refused.push_back("controller: differs");

  DataConfig da = saved.data, db = now.data;
  if (da.dir != db.dir) ch.allowed.push_back("data.dir: " + da.dir + " -> " + db.dir);
  da.dir = db.dir;
  if (!(da == db)) ch.refused.push_back("data: differs (dataset, split or generator settings)");

  const TrainConfig& ta = saved.train;
  const TrainConfig& tb = now.train;
  if (ta.batch_size != tb.batch_size)
    ch.refused.push_back(number("train.batch_size", ta.batch_size, tb.batch_size));
  // Checkpoints hold fp32 master weights in every precision, so the precision may change (as the
  // device may): the run continues from the same weights with the new GEMM inputs.
  if (ta.precision != tb.precision)
    ch.allowed.push_back(std::string("train.precision: ") + to_string(ta.precision) + " -> " +
                         to_string(tb.precision));
  if (ta.deterministic != tb.deterministic) ch.refused.push_back("train.deterministic: differs");
  if (ta.epochs != tb.epochs) ch.allowed.push_back(number("train.epochs", ta.epochs, tb.epochs));
  if (ta.eval_batch_size != tb.eval_batch_size)
    ch.allowed.push_back(number("train.eval_batch_size", ta.eval_batch_size, tb.eval_batch_size));
  if (ta.log_every_steps != tb.log_every_steps)
    ch.allowed.push_back(number("train.log_every_steps", ta.log_every_steps, tb.log_every_steps));
  if (ta.graph != tb.graph) ch.allowed.push_back("train.graph: differs");
  if (saved.name != now.name) ch.allowed.push_back("name: " + saved.name + " -> " + now.name);
  if (saved.device != now.device)
    ch.allowed.push_back("device: " + saved.device + " -> " + now.device);
  if (!(saved.telemetry == now.telemetry)) ch.allowed.push_back("telemetry: differs");
  if (!(saved.checkpoint == now.checkpoint)) ch.allowed.push_back("checkpoint: differs");
  return ch;
}

}  // namespace kasmina::io

#include "control/messages.hpp"

#include <cstdio>

#include "core/enum_table.hpp"
#include "morph/blueprint.hpp"
#include "morph/stage.hpp"

namespace kasmina::control {

constexpr EnumTable<Topic, 5> kTopicNames{{
    {"telemetry", Topic::telemetry},
    {"commands", Topic::commands},
    {"lifecycle", Topic::lifecycle},
    {"metrics", Topic::metrics},
    {"alerts", Topic::alerts},
}};

const char* topic_name(Topic t) {
  return enum_name(kTopicNames, t);
}

constexpr EnumTable<CommandKind, 6> kCommandKindNames{{
    {"germinate", CommandKind::germinate},
    {"cancel", CommandKind::cancel},
    {"cull", CommandKind::cull},
    {"rollback", CommandKind::rollback},
    {"set_eval_score", CommandKind::set_eval_score},
    {"grow_width", CommandKind::grow_width},
}};

const char* command_kind_name(CommandKind k) {
  return enum_name(kCommandKindNames, k);
}

constexpr EnumTable<AlertKind, 4> kAlertKindNames{{
    {"non_finite_loss", AlertKind::non_finite_loss},
    {"loss_spike", AlertKind::loss_spike},
    {"rollback", AlertKind::rollback},
    {"queue_refused", AlertKind::queue_refused},
}};

const char* alert_kind_name(AlertKind k) {
  return enum_name(kAlertKindNames, k);
}

namespace {

struct TopicOf {
  Topic operator()(const HealthReport&) const { return Topic::telemetry; }
  Topic operator()(const Command&) const { return Topic::commands; }
  Topic operator()(const WidthReport&) const { return Topic::telemetry; }
  Topic operator()(const LifecycleEvent&) const { return Topic::lifecycle; }
  Topic operator()(const ValidationMeasurement&) const { return Topic::metrics; }
  Topic operator()(const Alert&) const { return Topic::alerts; }
  Topic operator()(const KernelEvent&) const { return Topic::telemetry; }
};

struct KindOf {
  std::string operator()(const HealthReport&) const { return "health"; }
  std::string operator()(const Command& c) const { return command_kind_name(c.kind); }
  std::string operator()(const LifecycleEvent&) const { return "event"; }
  std::string operator()(const ValidationMeasurement&) const { return "validation"; }
  std::string operator()(const WidthReport&) const { return "width"; }
  std::string operator()(const KernelEvent&) const { return "kernel"; }
  std::string operator()(const Alert& a) const {
    return std::string("alert:") + alert_kind_name(a.kind);
  }
};

std::string format(const char* fmt, auto... args) {
  char buf[512];
  std::snprintf(buf, sizeof buf, fmt, args...);
  return buf;
}

struct TextOf {
  std::string operator()(const HealthReport& h) const {
    std::string out = format("layer %d seeds %zu", h.layer, h.seeds.size());
    for (const morph::SeedTelemetry& s : h.seeds) {
      out += format(
          "; seed %d %s alpha %.4g mean %.5g var %.5g dead %.4g max %.5g grad %.5g score %.5g",
          s.seed, morph::stage_name(s.stage), static_cast<double>(s.alpha), s.mean, s.variance,
          s.dead_fraction, s.max_abs, static_cast<double>(s.grad_norm_ema), s.grad_score);
    }
    return out;
  }
  std::string operator()(const Command& c) const {
    std::string out = format("layer %d seed %d", c.layer, c.seed);
    if (c.kind == CommandKind::germinate)
      out += std::string(" blueprint ") + morph::blueprint_name(c.blueprint);
    if (c.kind == CommandKind::set_eval_score)
      out += format(" score %.6g", static_cast<double>(c.value));
    if (!c.reason.empty()) out += " (" + c.reason + ")";
    return out;
  }
  std::string operator()(const LifecycleEvent& e) const {
    const morph::MorphEvent& m = e.event;
    const auto reason = static_cast<morph::Reason>(m.reason);
    std::string out = format("layer %d seed %d %s -> %s %s%s %.6g", m.layer, m.seed,
                             morph::stage_name(static_cast<morph::Stage>(m.from)),
                             morph::stage_name(static_cast<morph::Stage>(m.to)),
                             morph::reason_is_refusal(reason) ? "REFUSED " : "",
                             morph::reason_name(reason), static_cast<double>(m.value));
    if (!e.note.empty()) out += " (" + e.note + ")";
    return out;
  }
  std::string operator()(const WidthReport& w) const {
    return format("layer %d active %ld of %ld steps %ld/%ld new %.6g active %.6g ratio %.6g",
                  w.layer, static_cast<long>(w.active), static_cast<long>(w.width),
                  static_cast<long>(w.steps_done), static_cast<long>(w.steps_total), w.new_units,
                  w.active_units, w.ratio);
  }
  std::string operator()(const ValidationMeasurement& v) const {
    return format("epoch %ld loss %.6f batches %ld", static_cast<long>(v.epoch), v.loss,
                  static_cast<long>(v.batches));
  }
  std::string operator()(const KernelEvent& k) const {
    std::string out = format("layer %d blueprint %s C %d key %s level %s ms %.3f", k.layer,
                             k.blueprint.c_str(), k.chunk, k.key.c_str(), k.level.c_str(), k.ms);
    if (k.tune_ms >= 0.0) out += format(" tune_ms %.3f", k.tune_ms);
    if (!k.launch.empty()) out += " launch " + k.launch;
    if (!k.detail.empty()) out += " (" + k.detail + ")";
    return out;
  }
  std::string operator()(const Alert& a) const {
    std::string out = format("layer %d seed %d value %.6g", a.layer, a.seed, a.value);
    if (!a.detail.empty()) out += " (" + a.detail + ")";
    return out;
  }
};

}  // namespace

Topic topic_of(const Payload& p) {
  return std::visit(TopicOf{}, p);
}
std::string payload_kind(const Payload& p) {
  return std::visit(KindOf{}, p);
}
std::string payload_text(const Payload& p) {
  return std::visit(TextOf{}, p);
}

}  // namespace kasmina::control

// The checkpoint section of a morphogenetic layer, "seeds/kasmina<k>/" (docs/FORMATS.md): one
// tensor per seed-state field, the blueprint pool and slot table, the step statistics,
// telemetry, gradient norms and event ring, the host counters and the queued host commands.
#include <array>
#include <cstring>
#include <type_traits>
#include <utility>

#include "core/error.hpp"
#include "nn/kasmina_layer.hpp"

namespace kasmina::morph {

namespace {

std::string section_name(int32_t layer_index) {
  return "seeds/kasmina" + std::to_string(layer_index);
}

// The layer's device buffers in its section, in the order saved. `slot_owner` is checked and
// restored with the seed states before the others load.
template <class Buffers>
auto buffer_entries(Buffers& b) {
  using T = std::remove_reference_t<decltype((b.pool))>;  // Tensor or const Tensor
  return std::array<std::pair<const char*, T*>, 6>{{{"pool", &b.pool},
                                                    {"slot_owner", &b.slot_owner},
                                                    {"step_stats", &b.step_stats},
                                                    {"telemetry", &b.telemetry},
                                                    {"grad_norm", &b.grad_norm},
                                                    {"event_ring", &b.events}}};
}

}  // namespace

void KasminaLayer::save_state(StateWriter& root) const {
  StateWriter out = root.section(section_name(cfg_.layer_index));
  const HostSeedState host = state_.download();
  const int64_t S = host.seeds;
  for (int32_t f = 0; f < kSeedFieldCount; ++f) {
    const auto field = static_cast<SeedField>(f);
    const int32_t* words = host.words.data() + static_cast<size_t>(f) * static_cast<size_t>(S);
    Tensor t = Tensor::empty({S}, seed_field_is_float(field) ? DType::f32 : DType::i32);
    std::memcpy(t.raw(), words, static_cast<size_t>(S) * sizeof(int32_t));
    out.tensor(seed_field_name(field), t);
  }
  for (const auto& [name, t] : buffer_entries(buf_)) out.tensor(name, *t);
  const HostCounters c = host_counters();
  out.integer("boundaries", c.boundaries);
  out.integer("ring_tail", c.ring_tail);
  out.integer("dropped_events", c.dropped_events);
  out.integer("active_hint", c.active_hint);
  // Commands queued for the next boundary (e.g. an evaluation score set at this one).
  const std::vector<MorphCommand> queued = queued_command_list();
  out.integer("queued_commands", static_cast<int64_t>(queued.size()));
  if (!queued.empty()) {
    Tensor q = Tensor::empty({static_cast<int64_t>(queued.size()), 4}, DType::i32);
    std::memcpy(q.raw(), queued.data(), queued.size() * sizeof(MorphCommand));
    out.tensor("queued_commands", q);
  }
  flops_.save(out);
}

void KasminaLayer::load_state(const StateReader& root) {
  const StateReader in = root.section(section_name(cfg_.layer_index));
  HostSeedState host = SeedState::initial_host_state(cfg_.seeds);
  const int64_t S = host.seeds;
  for (int32_t f = 0; f < kSeedFieldCount; ++f) {
    const auto field = static_cast<SeedField>(f);
    const std::string name = seed_field_name(field);
    const Tensor& t = in.tensor(name);
    if (t.numel() != S || t.dtype() != (seed_field_is_float(field) ? DType::f32 : DType::i32))
      throw UserError("checkpoint: '" + in.prefix() + name + "' holds " +
                      std::to_string(t.numel()) + " seeds but this run's layer has " +
                      std::to_string(S));
    std::memcpy(host.words.data() + static_cast<size_t>(f) * static_cast<size_t>(S), t.raw(),
                static_cast<size_t>(S) * sizeof(int32_t));
  }
  const Tensor& owners = in.tensor("slot_owner");
  if (owners.numel() != cfg_.pool_slots || owners.dtype() != DType::i32)
    throw UserError("checkpoint: '" + in.prefix() +
                    "slot_owner' does not fit this run's pool_slots");
  restore_state(host, owners.to_vector<int32_t>());
  for (const auto& [name, t] : buffer_entries(buf_))
    if (t != &buf_.slot_owner) in.load(name, *t);
  std::vector<MorphCommand> queued(static_cast<size_t>(in.integer("queued_commands")));
  if (!queued.empty()) {
    const Tensor& q = in.tensor("queued_commands");
    if (q.nbytes() != queued.size() * sizeof(MorphCommand))
      throw UserError("checkpoint: '" + in.prefix() + "queued_commands' has the wrong size");
    std::memcpy(queued.data(), q.raw(), q.nbytes());
  }
  restore_queued_commands(queued);
  // active_hint is absent from checkpoints written before it was carried: recompute it then.
  restore_host_counters({in.integer("boundaries"), in.integer("ring_tail"),
                         in.integer("dropped_events"),
                         in.has_integer("active_hint") ? in.integer("active_hint") : -1});
  flops_.load(in);
}

}  // namespace kasmina::morph

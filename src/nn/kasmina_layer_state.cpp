// The checkpoint section of a morphogenetic layer, "seeds/kasmina<k>/" (docs/FORMATS.md): one
// tensor per seed-state field, the blueprint pool and slot table, the step statistics,
// telemetry, gradient norms and event ring, the host counters and the queued host commands.
#include <array>
#include <cstring>
#include <type_traits>
#include <utility>

#include "core/error.hpp"
#include "morph/seed_state_check.hpp"
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

// The event ring's write position: the header at the start of the stored ring.
int64_t ring_head(const StateReader& in) {
  const Tensor& ring = in.tensor("event_ring");
  if (ring.dtype() != DType::u8 || ring.nbytes() < sizeof(EventRingHeader))
    throw UserError("checkpoint: '" + in.prefix() + "event_ring' is not an event ring");
  EventRingHeader header{};
  std::memcpy(&header, ring.raw(), sizeof header);
  return header.head;
}

void check_counters(const StateReader& in, const KasminaLayer::HostCounters& c) {
  const int64_t head = ring_head(in);
  auto bad = [&](const std::string& name, int64_t value, const std::string& allowed) {
    return UserError("checkpoint: '" + in.prefix() + name + "' is " + std::to_string(value) +
                     " (allowed: " + allowed + ")");
  };
  if (head < 0) throw bad("event_ring", head, "a write position >= 0");
  if (c.ring_tail < 0) throw bad("ring_tail", c.ring_tail, "a read position >= 0");
  if (c.boundaries < 0) throw bad("boundaries", c.boundaries, "a count >= 0");
  if (c.dropped_events < 0) throw bad("dropped_events", c.dropped_events, "a count >= 0");
}

// The commands queued for the next boundary: `queued_commands` rows of [type, seed, arg, value].
std::vector<MorphCommand> stored_commands(const StateReader& in) {
  const int64_t n = in.integer("queued_commands");
  if (n == 0) return {};
  const Tensor* q = in.find("queued_commands");
  if (n < 0 || q == nullptr || q->dtype() != DType::i32 || q->shape() != Shape{n, 4})
    throw UserError("checkpoint: '" + in.prefix() + "queued_commands' does not hold " +
                    std::to_string(n) + " commands (an int32 array [" + std::to_string(n) +
                    ", 4])");
  std::vector<MorphCommand> queued(static_cast<size_t>(n));
  std::memcpy(queued.data(), q->raw(), q->nbytes());
  return queued;
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
    // Checkpoints of schema 1 have no iso_sq_ema: it starts unset (0).
    if (field == SeedField::iso_sq_ema && in.find(name) == nullptr) continue;
    const Tensor& t = in.tensor(name);
    const DType want = seed_field_is_float(field) ? DType::f32 : DType::i32;
    if (t.dtype() != want)
      throw UserError("checkpoint: '" + in.prefix() + name + "' has dtype " +
                      dtype_name(t.dtype()) + ", expected " + dtype_name(want));
    if (t.numel() != S)
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
  const std::vector<int32_t> slot_owner = owners.to_vector<int32_t>();
  // Every code and index the kernels use is checked before the state reaches them.
  if (const SeedStateProblem p = seed_state_problem(host, slot_owner, cfg_))
    throw UserError("checkpoint: tensor '" + in.prefix() + p.field + "': " + p.text);
  const HostCounters counters{in.integer("boundaries"), in.integer("ring_tail"),
                              in.integer("dropped_events"),
                              // absent from checkpoints written before it was carried: recomputed
                              in.has_integer("active_hint") ? in.integer("active_hint") : -1};
  check_counters(in, counters);
  restore_state(host, slot_owner);
  for (const auto& [name, t] : buffer_entries(buf_))
    if (t != &buf_.slot_owner) in.load(name, *t);
  restore_queued_commands(stored_commands(in));
  restore_host_counters(counters);
  flops_.load(in);
}

}  // namespace kasmina::morph

// An IR graph as a registered blueprint (path row, C -> C): its descriptor's sizes, initial
// values and gradient layout come from the graph's plan for the layer's shape, its row functions
// are the CPU interpreter. On CUDA it needs a compiled module (not built yet), so the config
// refuses IR blueprints on CUDA devices.
#pragma once
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "ir/graph.hpp"
#include "ir/plan.hpp"
#include "morph/blueprint_registry.hpp"

namespace kasmina::ir {

// The descriptor's own data: the graph and its plans, one per shape met (made once each).
class IrBlueprint {
 public:
  explicit IrBlueprint(Graph g) : graph_(std::move(g)) {}
  const Graph& graph() const { return graph_; }
  // The plan for `sh` (UserError when the graph does not fit it).
  const Plan& plan(const morph::BlueprintShape& sh) const;

 private:
  Graph graph_;
  mutable std::mutex mutex_;
  mutable std::vector<std::unique_ptr<const Plan>> plans_;
};

morph::BlueprintDescriptor make_descriptor(Graph g);
// The IR blueprint behind a descriptor, or null when it is not one.
const IrBlueprint* ir_blueprint_of(const morph::BlueprintDescriptor& d);
// Registers the graph under its name and returns its kind id. Registering the same name with
// the same hash again returns the existing kind (a config read twice); another graph under a
// registered name is a UserError.
int32_t register_graph(const Graph& g);

}  // namespace kasmina::ir

// The registry of collective backends: one line per backend. A new backend (nccl, mpi) is its
// own file in this folder, one line below (under its build condition) and one line in
// meson.build.
#include <array>
#include <utility>

#include "core/error.hpp"
#include "ops/collective/communicator.hpp"
#include "ops/collective/single_process.hpp"

namespace kasmina::ops {

namespace {

constexpr std::array<std::pair<std::string_view, CommunicatorFactory>, 1> kBackends{{
    {"single_process", make_single_process_communicator},
}};

}  // namespace

std::vector<std::string> communicator_backends() {
  std::vector<std::string> out;
  for (const auto& entry : kBackends) out.emplace_back(entry.first);
  return out;
}

std::unique_ptr<Communicator> make_communicator(std::string_view name,
                                                const CommunicatorOptions& options) {
  for (const auto& [backend, factory] : kBackends)
    if (backend == name) return factory(options);
  std::string allowed;
  for (const std::string& b : communicator_backends()) allowed += (allowed.empty() ? "" : ", ") + b;
  throw UserError("unknown communicator backend '" + std::string(name) + "' (allowed: " + allowed +
                  ")");
}

}  // namespace kasmina::ops

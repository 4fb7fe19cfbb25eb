// The registry of collective backends: one line per backend. A new backend (nccl, mpi) is its
// own file in this folder, one line below (under its build condition) and one line in
// meson.build.
#include <array>
#include <utility>

#include "core/error.hpp"
#include "kasmina_build_config.hpp"
#include "ops/collective/communicator.hpp"
#include "ops/collective/mpi.hpp"
#include "ops/collective/single_process.hpp"
#if KASMINA_HAS_NCCL
#include "ops/collective/nccl.hpp"
#endif

namespace kasmina::ops {

namespace {

constexpr std::array kBackends {
  std::pair<std::string_view, CommunicatorFactory>{"single_process",
                                                   make_single_process_communicator},
      std::pair<std::string_view, CommunicatorFactory>{"mpi", make_mpi_communicator},
#if KASMINA_HAS_NCCL
      std::pair<std::string_view, CommunicatorFactory>{"nccl", make_nccl_communicator},
#endif
};

}  // namespace

void check_collective_buffer(const Tensor& buffer, Device dev, const char* op) {
  KASMINA_CHECK(buffer.defined(), std::string(op) + ": the buffer is undefined");
  KASMINA_CHECK(buffer.device() == dev, std::string(op) + ": the buffer is on " +
                                            buffer.device().str() + ", the communicator on " +
                                            dev.str());
  KASMINA_CHECK(buffer.dtype() == DType::f32 || buffer.dtype() == DType::f64,
                std::string(op) + ": the buffer must be float32 or float64");
}

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

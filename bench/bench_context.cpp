#include "bench/bench_context.hpp"

#include <fstream>

#include "core/env_switch.hpp"
#include "core/git_commit.hpp"
#include "kasmina_build_config.hpp"
#include "ops/ops.hpp"

namespace kasmina::bench {

std::string device_kind(const std::string& device_value) {
  return device_value.substr(0, device_value.find(':'));
}

std::string cpu_model_name() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("model name", 0) != 0) continue;
    const size_t colon = line.find(':');
    if (colon == std::string::npos) break;
    const size_t start = line.find_first_not_of(' ', colon + 1);
    return start == std::string::npos ? std::string("unknown CPU") : line.substr(start);
  }
  return "unknown CPU";
}

std::vector<std::pair<std::string, std::string>> run_context(Device dev) {
  std::vector<std::pair<std::string, std::string>> ctx = {
      {kCtxVersion, KASMINA_VERSION},
      {kCtxGitCommit, git_commit()},
      {kCtxBuildType, KASMINA_BUILD_TYPE},
      {kCtxDevice, dev.str()},
  };
  ctx.emplace_back(kCtxEnvironment, kasmina_environment_line());
  if (dev.is_cpu()) {
    ctx.emplace_back(kCtxDeviceName, cpu_model_name());
    return ctx;
  }
  for (const ops::CudaDeviceInfo& d : ops::list_cuda_devices()) {
    if (d.index != dev.index) continue;
    ctx.emplace_back(kCtxDeviceName, d.name);
    ctx.emplace_back(kCtxGpuDriver, d.driver_version);
    ctx.emplace_back(kCtxCudaRuntime, d.runtime_version);
  }
  return ctx;
}

}  // namespace kasmina::bench

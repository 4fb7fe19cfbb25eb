// The context kasmina adds to Google Benchmark's JSON (next to the library's own): what was
// measured where, so a result can be traced and a baseline refused when it does not apply.
#pragma once
#include <string>
#include <utility>
#include <vector>

#include "core/device.hpp"

namespace kasmina::bench {

// Context keys.
inline constexpr const char* kCtxVersion = "kasmina_version";
inline constexpr const char* kCtxGitCommit = "kasmina_git_commit";
inline constexpr const char* kCtxBuildType = "kasmina_build_type";
inline constexpr const char* kCtxDevice = "kasmina_device";           // "cpu", "cuda:0"
inline constexpr const char* kCtxDeviceName = "kasmina_device_name";  // GPU name or CPU model
// The KASMINA_* environment variables of the run, "NAME=value" separated by spaces ("" if none).
inline constexpr const char* kCtxEnvironment = "kasmina_environment";
inline constexpr const char* kCtxGpuDriver = "gpu_driver_version";
inline constexpr const char* kCtxCudaRuntime = "cuda_runtime_version";
inline constexpr const char* kCtxPeakBandwidth = "peak_bandwidth_bytes_per_second";
inline constexpr const char* kCtxPeakFlops = "peak_flops";
// Only when a selected benchmark runs in that math (bench/peaks.hpp).
inline constexpr const char* kCtxPeakFlopsTf32 = "peak_flops_tf32";
inline constexpr const char* kCtxPeakFlopsBf16 = "peak_flops_bf16";

// "cpu" or "cuda" from a context device value such as "cuda:0".
std::string device_kind(const std::string& device_value);

// Version, commit, build type, device and its name, and (CUDA) driver and runtime versions.
std::vector<std::pair<std::string, std::string>> run_context(Device dev);

// The CPU model from /proc/cpuinfo ("unknown CPU" when unreadable).
std::string cpu_model_name();

}  // namespace kasmina::bench

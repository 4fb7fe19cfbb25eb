// What a layer's prepare found for one of its IR blueprints at its chunk width: the kernel
// obtained, the level of the fallback chain that served it (ops/ir_backend.hpp), the time it
// took and the tuning done. The run publishes one per (layer, blueprint) on the event bus
// (control::KernelEvent), so they reach the bus log, the telemetry file and `kasmina inspect`.
#pragma once
#include <cstdint>
#include <string>

namespace kasmina::ops {

struct KernelRecord {
  std::string blueprint;  // its name
  int32_t kind = -1;
  int32_t chunk = 0;      // the chunk width C the kernel is laid out for
  std::string key;        // kernel cache key (hex); the graph's canonical hash where no
                          // compile was asked (interpreter, cpu-interpreter)
  std::string level;      // memory, disk, compiled, interpreter, refused; on the CPU
                          // cpu-interpreter (the CPU interpreter, nothing compiled)
  double ms = 0.0;        // time to obtain it (compile or cache load, upload, launch choice)
  double tune_ms = -1.0;  // >= 0: the autotuner timed candidates now
  std::string launch;     // the launch configuration taken (and where it came from)
  std::string detail;     // why it fell back or was refused
};

}  // namespace kasmina::ops

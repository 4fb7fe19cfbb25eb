// Test programs wait for the blueprint compilers' background compiles before they exit, as
// kasmina's commands do (ops/blueprint_compiler.hpp, finish_background_compiles): a tiered
// compile's fused module still inside NVRTC when exit destroys NVRTC's objects crashed the
// program after its last test had passed.
#include <gtest/gtest.h>

#include "ops/blueprint_compiler.hpp"

namespace {

class FinishCompiles : public ::testing::Environment {
 public:
  void TearDown() override { kasmina::ops::finish_background_compiles(); }
};

[[maybe_unused]] ::testing::Environment* const kFinishCompiles =
    ::testing::AddGlobalTestEnvironment(new FinishCompiles);

}  // namespace

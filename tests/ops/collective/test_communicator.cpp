// The collective seam: the registry of communicator backends and the single-process backend
// (world size 1: every collective leaves the buffer bit for bit as it was).
#include <gtest/gtest.h>

#include <algorithm>

#include "core/error.hpp"
#include "ops/collective/communicator.hpp"

namespace kasmina::ops {
namespace {

TEST(Communicator, RegistryListsTheSingleProcessBackend) {
  const std::vector<std::string> names = communicator_backends();
  EXPECT_NE(std::find(names.begin(), names.end(), "single_process"), names.end());
}

TEST(Communicator, SingleProcessIsRankZeroOfOne) {
  const auto comm = make_communicator("single_process");
  EXPECT_EQ(comm->backend(), "single_process");
  EXPECT_EQ(comm->rank(), 0);
  EXPECT_EQ(comm->world_size(), 1);
  comm->barrier();  // returns at once
}

TEST(Communicator, SingleProcessAllReduceIsTheIdentity) {
  const auto comm = make_communicator("single_process");
  const std::vector<float> values = {1.5f, -2.25f, 3e-8f, 7.0f, -0.0f};
  Tensor buffer = Tensor::from_vector(values, {5});
  comm->all_reduce_sum(buffer);
  EXPECT_EQ(buffer.to_vector<float>(), values);
  comm->all_reduce_mean(buffer);
  EXPECT_EQ(buffer.to_vector<float>(), values);
  comm->broadcast(buffer, 0);
  EXPECT_EQ(buffer.to_vector<float>(), values);
  Tensor f64 = Tensor::from_vector<double>({0.1, 0.2}, {2});
  comm->all_reduce_sum(f64);
  EXPECT_EQ(f64.to_vector<double>(), (std::vector<double>{0.1, 0.2}));
}

TEST(Communicator, RejectsWrongBuffersAndOptions) {
  const auto comm = make_communicator("single_process");
  Tensor ints = Tensor::zeros({3}, DType::i32);
  EXPECT_THROW(comm->all_reduce_sum(ints), InternalError);
  Tensor buffer = Tensor::zeros({3});
  EXPECT_THROW(comm->broadcast(buffer, 1), InternalError);
  EXPECT_THROW(comm->all_reduce_max(ints), InternalError);
  EXPECT_THROW(make_communicator("single_process", {.world_size = 2}), UserError);
  try {
    make_communicator("carrier_pigeon");
    FAIL() << "an unknown backend is a user error";
  } catch (const UserError& e) {
    std::string allowed = "single_process";
    for (const std::string& b : communicator_backends())
      if (b != "single_process") allowed += ", " + b;  // mpi always (it names the fix without MPI)
    EXPECT_EQ(std::string(e.what()),
              "unknown communicator backend 'carrier_pigeon' (allowed: " + allowed + ")");
    EXPECT_EQ(communicator_backends().at(1), "mpi");
  }
}

}  // namespace
}  // namespace kasmina::ops

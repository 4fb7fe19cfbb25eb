#include "ops/collective/nccl.hpp"

#include <nccl.h>

#include <cstdlib>
#include <string>

#include "core/error.hpp"
#include "ops/collective/mpi.hpp"
#include "ops/cuda/cuda_common.hpp"

namespace kasmina::ops {

namespace {

void check(ncclResult_t rc, const char* what, int rank) {
  if (rc == ncclSuccess) return;
  throw InternalError(std::string("nccl: ") + what + " failed on rank " + std::to_string(rank) +
                      ": " + ncclGetErrorString(rc));
}

ncclDataType_t nccl_type(const Tensor& t) {
  return t.dtype() == DType::f64 ? ncclFloat64 : ncclFloat32;
}

class NcclCommunicator final : public Communicator {
 public:
  NcclCommunicator(const CommunicatorOptions& o)
      : dev_(o.device), rank_(o.rank), world_(o.world_size) {
    ::setenv("NCCL_NVLS_ENABLE", "0", /*overwrite=*/0);
    if (o.deterministic) {
      ::setenv("NCCL_ALGO", "Ring", 0);
      ::setenv("NCCL_PROTO", "Simple", 0);
    }
    KASMINA_CUDA_CHECK(cudaSetDevice(dev_.index));
    ncclUniqueId id;
    if (rank_ == 0) check(ncclGetUniqueId(&id), "ncclGetUniqueId", rank_);
    if (world_ > 1) mpi_broadcast_bytes(&id, sizeof id, 0);
    check(ncclCommInitRank(&comm_, world_, id, rank_), "ncclCommInitRank", rank_);
  }
  ~NcclCommunicator() override {
    if (comm_ != nullptr) ncclCommDestroy(comm_);
  }
  std::string backend() const override { return "nccl"; }
  int rank() const override { return rank_; }
  int world_size() const override { return world_; }
  void all_reduce_sum(Tensor& b) override { reduce(b, ncclSum, "all_reduce_sum"); }
  void all_reduce_mean(Tensor& b) override { reduce(b, ncclAvg, "all_reduce_mean"); }
  void all_reduce_max(Tensor& b) override { reduce(b, ncclMax, "all_reduce_max"); }
  void broadcast(Tensor& b, int root) override {
    check_collective_buffer(b, dev_, "broadcast");
    check(ncclBroadcast(b.raw(), b.raw(), static_cast<size_t>(b.numel()), nccl_type(b), root, comm_,
                        cuda::stream(dev_)),
          "ncclBroadcast", rank_);
  }
  void barrier() override {
    KASMINA_CUDA_CHECK(cudaStreamSynchronize(cuda::stream(dev_)));
    if (world_ > 1) make_mpi_communicator({})->barrier();
  }

 private:
  void reduce(Tensor& b, ncclRedOp_t op, const char* what) {
    check_collective_buffer(b, dev_, what);
    // One rank too goes through NCCL (a copy in place: bit-identical to a plain run).
    check(ncclAllReduce(b.raw(), b.raw(), static_cast<size_t>(b.numel()), nccl_type(b), op, comm_,
                        cuda::stream(dev_)),
          what, rank_);
  }
  Device dev_;
  int rank_, world_;
  ncclComm_t comm_ = nullptr;
};

}  // namespace

std::unique_ptr<Communicator> make_nccl_communicator(const CommunicatorOptions& options) {
  if (!options.device.is_cuda())
    throw UserError("the nccl communicator reduces CUDA buffers, got device " +
                    options.device.str() + " (use mpi for host buffers)");
  return std::make_unique<NcclCommunicator>(options);
}

}  // namespace kasmina::ops

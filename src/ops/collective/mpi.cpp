#include "ops/collective/mpi.hpp"

#define OMPI_SKIP_MPICXX 1  // the C API only (the C++ bindings are deprecated)
#include <mpi.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "core/error.hpp"

namespace kasmina::ops {

namespace {

MPI_Comm g_local = MPI_COMM_NULL;

void finalize_at_exit() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (!finalized) MPI_Finalize();
}

void check(int rc, const char* what) {
  if (rc == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(rc, text, &len);
  throw InternalError(std::string("mpi: ") + what + " failed on rank " +
                      std::to_string(mpi_rank()) + ": " + std::string(text, len));
}

MPI_Datatype mpi_type(const Tensor& t) {
  return t.dtype() == DType::f64 ? MPI_DOUBLE : MPI_FLOAT;
}

// Every rank's buffer gathered to every rank, then summed in rank order: the same bits on every
// rank and in every run at this world size.
template <class T>
void ordered_sum(T* data, int64_t n, int world, MPI_Datatype type) {
  std::vector<T> all(static_cast<size_t>(n) * world);
  check(MPI_Allgather(data, static_cast<int>(n), type, all.data(), static_cast<int>(n), type,
                      MPI_COMM_WORLD),
        "MPI_Allgather");
  for (int64_t i = 0; i < n; ++i) {
    T s = all[static_cast<size_t>(i)];
    for (int r = 1; r < world; ++r) s += all[static_cast<size_t>(r * n + i)];
    data[i] = s;
  }
}

class MpiCommunicator final : public Communicator {
 public:
  explicit MpiCommunicator(bool deterministic) : deterministic_(deterministic) {}
  std::string backend() const override { return "mpi"; }
  int rank() const override { return mpi_rank(); }
  int world_size() const override { return mpi_world_size(); }

  void all_reduce_sum(Tensor& buffer) override { sum(buffer, "all_reduce_sum"); }
  void all_reduce_mean(Tensor& buffer) override {
    sum(buffer, "all_reduce_mean");
    const int w = world_size();
    if (buffer.dtype() == DType::f64) {
      for (double& v : span<double>(buffer)) v /= w;
    } else {
      for (float& v : span<float>(buffer)) v /= static_cast<float>(w);
    }
  }
  void all_reduce_max(Tensor& buffer) override {
    check_collective_buffer(buffer, Device::cpu(), "all_reduce_max");
    check(MPI_Allreduce(MPI_IN_PLACE, buffer.raw(), count(buffer), mpi_type(buffer), MPI_MAX,
                        MPI_COMM_WORLD),
          "MPI_Allreduce (max)");
  }
  void broadcast(Tensor& buffer, int root) override {
    check_collective_buffer(buffer, Device::cpu(), "broadcast");
    check(MPI_Bcast(buffer.raw(), count(buffer), mpi_type(buffer), root, MPI_COMM_WORLD),
          "MPI_Bcast");
  }
  void barrier() override { check(MPI_Barrier(MPI_COMM_WORLD), "MPI_Barrier"); }

 private:
  template <class T>
  struct Span {
    T* b;
    T* e;
    T* begin() const { return b; }
    T* end() const { return e; }
  };
  template <class T>
  static Span<T> span(Tensor& t) {
    return {t.data<T>(), t.data<T>() + t.numel()};
  }
  static int count(const Tensor& t) {
    KASMINA_CHECK(t.numel() < (int64_t{1} << 31), "mpi: a buffer of 2^31 or more elements");
    return static_cast<int>(t.numel());
  }
  void sum(Tensor& buffer, const char* op) {
    check_collective_buffer(buffer, Device::cpu(), op);
    const int w = world_size();
    if (w == 1) return;
    if (deterministic_) {
      if (buffer.dtype() == DType::f64)
        ordered_sum(buffer.data<double>(), buffer.numel(), w, MPI_DOUBLE);
      else
        ordered_sum(buffer.data<float>(), buffer.numel(), w, MPI_FLOAT);
      return;
    }
    check(MPI_Allreduce(MPI_IN_PLACE, buffer.raw(), count(buffer), mpi_type(buffer), MPI_SUM,
                        MPI_COMM_WORLD),
          "MPI_Allreduce (sum)");
  }
  bool deterministic_;
};

}  // namespace

bool mpi_built() {
  return true;
}

bool mpi_initialized() {
  int on = 0;
  MPI_Initialized(&on);
  return on != 0;
}

void mpi_init() {
  if (mpi_initialized()) return;
  int provided = 0;
  if (MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS)
    throw UserError("mpi: MPI_Init_thread failed (is this process started by mpirun or srun?)");
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &g_local);
  std::atexit(finalize_at_exit);
}

int mpi_rank() {
  int r = 0;
  if (mpi_initialized()) MPI_Comm_rank(MPI_COMM_WORLD, &r);
  return r;
}

int mpi_world_size() {
  int w = 1;
  if (mpi_initialized()) MPI_Comm_size(MPI_COMM_WORLD, &w);
  return w;
}

int mpi_local_rank() {
  int r = 0;
  if (mpi_initialized() && g_local != MPI_COMM_NULL) MPI_Comm_rank(g_local, &r);
  return r;
}

void mpi_abort(int code) {
  // An exit without MPI_Finalize: the launcher ends the other ranks and reports this one (several
  // ranks calling MPI_Abort at once can crash Open MPI's mpirun).
  std::fflush(nullptr);
  std::_Exit(code);
}

void mpi_broadcast_bytes(void* data, size_t bytes, int root) {
  check(MPI_Bcast(data, static_cast<int>(bytes), MPI_BYTE, root, MPI_COMM_WORLD), "MPI_Bcast");
}

std::unique_ptr<Communicator> make_mpi_communicator(const CommunicatorOptions& options) {
  if (!options.device.is_cpu())
    throw UserError("the mpi communicator reduces host buffers (device cpu), got " +
                    options.device.str() + " (use nccl for CUDA buffers)");
  mpi_init();
  return std::make_unique<MpiCommunicator>(options.deterministic);
}

}  // namespace kasmina::ops

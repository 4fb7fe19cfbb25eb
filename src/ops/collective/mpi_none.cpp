// A build without MPI: a run is one process; asking for MPI is a user error naming the fix.
#include <cstdlib>

#include "core/error.hpp"
#include "ops/collective/mpi.hpp"

namespace kasmina::ops {

namespace {

[[noreturn]] void no_mpi() {
  throw UserError(
      "this kasmina was built without MPI (install libopenmpi-dev and rebuild with -Dmpi=enabled) "
      "and cannot run as one rank of several");
}

}  // namespace

bool mpi_built() {
  return false;
}
void mpi_init() {
  no_mpi();
}
bool mpi_initialized() {
  return false;
}
int mpi_rank() {
  return 0;
}
int mpi_world_size() {
  return 1;
}
int mpi_local_rank() {
  return 0;
}
void mpi_abort(int code) {
  std::_Exit(code);
}
void mpi_broadcast_bytes(void*, size_t, int) {
  no_mpi();
}
std::unique_ptr<Communicator> make_mpi_communicator(const CommunicatorOptions&) {
  no_mpi();
}

}  // namespace kasmina::ops

// HDF5 1.10 crashes (SIGSEGV, SIGBUS) or loops forever on some damaged files instead of
// returning an error: fuzzing found corrupt global heaps under variable-length string
// attributes that make H5HG_read fault or spin (tests/fuzz/README.md). kasmina cannot fix the
// library, so while a user-given file is read a guard is alive, and
//  - a fault *inside libhdf5* (or in a libc function it called), or an abort (the C library
//    finding its heap damaged by HDF5), ends the process with the one-line user error
//      kasmina: error: PATH: truncated or damaged: the HDF5 library crashed reading it (SIGSEGV)
//    and exit code 2; a fault anywhere else goes to the handler that was there before (a crash
//    as usual, or a sanitizer's report), so kasmina's own bugs are not hidden;
//  - a read that takes longer than its deadline (30 s plus 1 s per 8 MiB of file, far more
//    than any real file needs; KASMINA_HDF5_READ_TIMEOUT=SECONDS replaces the 30) ends the
//    process the same way: "... the HDF5 library made no progress reading it for N s" (a
//    watchdog thread, one per outermost guard).
//  - the address space may grow by at most hdf5_read_memory_budget() (RLIMIT_AS, restored
//    afterwards): HDF5 allocates whatever length a damaged variable-length string declares
//    (fuzzing found 24 KB checkpoints that took 12 GB), and that allocation now fails, which
//    is an HDF5 error or std::bad_alloc, both a UserError of translate_damage().
// Nothing is written while a user-given file is read, so ending there leaves nothing half
// done. Guards nest; the outermost one watches, the innermost names its file.
#pragma once
#include <sys/resource.h>

#include <csignal>
#include <cstdint>
#include <string>

namespace kasmina::io {

// What reading `path` may add to the address space: 2 GiB plus 16 times the file's size (a
// real file's contents take about its size, compressed telemetry a few times more).
uint64_t hdf5_read_memory_budget(const std::string& path);

class Hdf5ReadGuard {
 public:
  explicit Hdf5ReadGuard(const std::string& path);
  ~Hdf5ReadGuard();
  Hdf5ReadGuard(const Hdf5ReadGuard&) = delete;
  Hdf5ReadGuard& operator=(const Hdf5ReadGuard&) = delete;

 private:
  const char* previous_message_;
  std::string message_stem_;
  bool outermost_ = false;
  bool limited_ = false;
  rlimit old_limit_{};
  struct sigaction old_segv_ {};
  struct sigaction old_bus_ {};
  struct sigaction old_abrt_ {};
};

}  // namespace kasmina::io

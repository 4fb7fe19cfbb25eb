#include "io/hdf5_read_guard.hpp"

#include <link.h>
#include <sys/resource.h>
#include <ucontext.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <mutex>
#include <thread>

namespace kasmina::io {

namespace {

// The executable address ranges of a loaded library, found once.
struct Range {
  uintptr_t begin = 0, end = 0;
};
struct Ranges {
  static constexpr int kMax = 16;
  const char* name;
  Range r[kMax] = {};
  int count = 0;
  bool contains(uintptr_t pc) const {
    for (int i = 0; i < count; ++i)
      if (pc >= r[i].begin && pc < r[i].end) return true;
    return false;
  }
};
Ranges g_hdf5{"libhdf5"};
Ranges g_libc{"libc.so"};

int collect(struct dl_phdr_info* info, size_t, void*) {
  for (Ranges* lib : {&g_hdf5, &g_libc}) {
    if (info->dlpi_name == nullptr || std::strstr(info->dlpi_name, lib->name) == nullptr) continue;
    for (int i = 0; i < info->dlpi_phnum && lib->count < Ranges::kMax; ++i) {
      const ElfW(Phdr)& ph = info->dlpi_phdr[i];
      if (ph.p_type != PT_LOAD || (ph.p_flags & PF_X) == 0) continue;
      const uintptr_t begin = info->dlpi_addr + ph.p_vaddr;
      lib->r[lib->count++] = {begin, begin + ph.p_memsz};
    }
  }
  return 0;
}

void find_libraries_once() {
  static const bool done = [] {
    dl_iterate_phdr(collect, nullptr);
    return true;
  }();
  (void)done;
}

// True when the fault is HDF5's: its code faulted, or a libc leaf function (memcpy) it called
// did (the return address is then on top of the stack, or in the link register).
bool hdf5_fault(void* context) {
  const auto* uc = static_cast<const ucontext_t*>(context);
#if defined(__x86_64__)
  const auto pc = static_cast<uintptr_t>(uc->uc_mcontext.gregs[REG_RIP]);
  const auto* sp = reinterpret_cast<const uintptr_t*>(uc->uc_mcontext.gregs[REG_RSP]);
  const uintptr_t caller = sp != nullptr ? *sp : 0;
#elif defined(__aarch64__)
  const auto pc = static_cast<uintptr_t>(uc->uc_mcontext.pc);
  const auto caller = static_cast<uintptr_t>(uc->uc_mcontext.regs[30]);
#else
  const uintptr_t pc = 0, caller = 0;
  (void)uc;
#endif
  return g_hdf5.contains(pc) || (g_libc.contains(pc) && g_hdf5.contains(caller));
}

// The start of the innermost guard's message ("kasmina: error: PATH: ... the HDF5 library"); the
// handlers of the outermost guard.
std::atomic<const char*> g_message{nullptr};
struct sigaction g_old_segv {};
struct sigaction g_old_bus {};
struct sigaction g_old_abrt {};

// Ends the process after the guard's message: exit code 2, as a user error. A fuzzing build
// aborts instead, so that libFuzzer keeps the input (scripts/fuzz.sh sorts these out as HDF5's).
[[noreturn]] void end_process() {
#ifdef KASMINA_FUZZING
  std::abort();
#else
  ::_exit(2);
#endif
}

void write_all(const char* s, size_t n) {
  while (n > 0) {
    const ssize_t w = ::write(STDERR_FILENO, s, n);
    if (w <= 0) return;
    s += w;
    n -= static_cast<size_t>(w);
  }
}

extern "C" void on_fault(int sig, siginfo_t* info, void* context) {
  const char* message = g_message.load();
  // An abort while a file is read is the C library finding its heap damaged by HDF5 (found
  // by fuzzing: an overflow in H5HG_read, noticed by free() when the file is closed).
  if (message != nullptr && (sig == SIGABRT || hdf5_fault(context))) {
    write_all(message, std::strlen(message));
    const char* name = sig == SIGBUS    ? " crashed reading it (SIGBUS)\n"
                       : sig == SIGABRT ? " crashed reading it (SIGABRT: heap damaged)\n"
                                        : " crashed reading it (SIGSEGV)\n";
    write_all(name, std::strlen(name));
    end_process();
  }
  // Not HDF5's: hand the fault to the previous handler (re-raised by returning with it back).
  const struct sigaction& old = sig == SIGBUS    ? g_old_bus
                                : sig == SIGABRT ? g_old_abrt
                                                 : g_old_segv;
  if ((old.sa_flags & SA_SIGINFO) != 0 && old.sa_sigaction != nullptr) {
    old.sa_sigaction(sig, info, context);
    return;
  }
  ::sigaction(sig, &old, nullptr);  // the faulting instruction runs again under it
}

// The watchdog of the outermost guard: ends the process when the read outlives its deadline.
class Watchdog {
 public:
  explicit Watchdog(double seconds) : thread_([this, seconds] { watch(seconds); }) {}
  ~Watchdog() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      done_ = true;
    }
    wake_.notify_one();
    thread_.join();
  }

 private:
  void watch(double seconds) {
    std::unique_lock<std::mutex> lock(mutex_);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
    if (wake_.wait_until(lock, deadline, [this] { return done_; })) return;
    const char* message = g_message.load();
    if (message == nullptr) return;
    write_all(message, std::strlen(message));
    char tail[96];
    std::snprintf(tail, sizeof tail, " made no progress reading it for %.0f s\n", seconds);
    write_all(tail, std::strlen(tail));
    end_process();
  }

  std::mutex mutex_;
  std::condition_variable wake_;
  bool done_ = false;
  std::thread thread_;
};

std::unique_ptr<Watchdog> g_watchdog;

uint64_t file_bytes(const std::string& path) {
  std::error_code ec;
  const auto size = std::filesystem::file_size(path, ec);
  return ec ? 0 : static_cast<uint64_t>(size);
}

double deadline_seconds(const std::string& path) {
  double base = 30.0;
  if (const char* env = std::getenv("KASMINA_HDF5_READ_TIMEOUT")) {
    char* end = nullptr;
    const double v = std::strtod(env, &end);
    if (end != env && v > 0.0) base = v;
  }
  return base + static_cast<double>(file_bytes(path)) / (8 << 20);
}

// The process's address space now (the first field of /proc/self/statm, in pages).
uint64_t address_space_bytes() {
  unsigned long long pages = 0;
  if (std::FILE* f = std::fopen("/proc/self/statm", "r")) {
    if (std::fscanf(f, "%llu", &pages) != 1) pages = 0;
    std::fclose(f);
  }
  return pages * static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
}

}  // namespace

uint64_t hdf5_read_memory_budget(const std::string& path) {
  return (uint64_t{2} << 30) + 16 * file_bytes(path);
}

Hdf5ReadGuard::Hdf5ReadGuard(const std::string& path)
    : previous_message_(g_message.load()),
      message_stem_("kasmina: error: " + path + ": truncated or damaged: the HDF5 library") {
  find_libraries_once();
  outermost_ = previous_message_ == nullptr;
  if (outermost_) {
    struct sigaction sa {};
    sa.sa_sigaction = on_fault;
    sa.sa_flags = SA_SIGINFO | SA_NODEFER;
    sigemptyset(&sa.sa_mask);
    ::sigaction(SIGSEGV, &sa, &old_segv_);
    ::sigaction(SIGBUS, &sa, &old_bus_);
#ifndef KASMINA_FUZZING  // there the guard itself ends with abort(), for libFuzzer
    ::sigaction(SIGABRT, &sa, &old_abrt_);
    g_old_abrt = old_abrt_;
#endif
    g_old_segv = old_segv_;
    g_old_bus = old_bus_;
  }
  g_message.store(message_stem_.c_str());
  if (!outermost_) return;
  g_watchdog = std::make_unique<Watchdog>(deadline_seconds(path));
  // HDF5 allocates what a damaged length declares before it fails (4 GiB per variable-length
  // string); an address-space limit makes that allocation fail instead of the machine.
  if (::getrlimit(RLIMIT_AS, &old_limit_) == 0) {
    const uint64_t want = address_space_bytes() + hdf5_read_memory_budget(path);
    if (old_limit_.rlim_cur == RLIM_INFINITY || want < old_limit_.rlim_cur) {
      const rlimit limit{static_cast<rlim_t>(want), old_limit_.rlim_max};
      limited_ = ::setrlimit(RLIMIT_AS, &limit) == 0;
    }
  }
}

Hdf5ReadGuard::~Hdf5ReadGuard() {
  if (limited_) ::setrlimit(RLIMIT_AS, &old_limit_);
  if (outermost_) g_watchdog.reset();
  g_message.store(previous_message_);
  if (outermost_) {
    ::sigaction(SIGSEGV, &old_segv_, nullptr);
    ::sigaction(SIGBUS, &old_bus_, nullptr);
#ifndef KASMINA_FUZZING
    ::sigaction(SIGABRT, &old_abrt_, nullptr);
#endif
  }
}

}  // namespace kasmina::io

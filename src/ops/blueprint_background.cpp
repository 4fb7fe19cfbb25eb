// Compiles that outlive the get() that started them: a tiered compile's fused module, a compile
// past the time limit. Each runs on a thread of the compiler; the compiler's destructor joins
// them, and finish_background_compiles joins those of every live compiler. The process must not
// begin to exit while one runs inside NVRTC: exit destroys NVRTC's own static objects (those made
// when it was loaded, and those it makes on first use, perhaps on the compile's own thread, after
// any handler of ours was registered), and the compile then crashed the process (free() of an
// invalid pointer, a segmentation fault in NVRTC's setjmp). So kasmina's commands call
// finish_background_compiles before they return (cli::run), and test programs before they exit;
// an exit handler registered when the first background compile starts (NVRTC is loaded by then)
// catches a process that exits otherwise, as far as the order of exit allows.
#include <atomic>
#include <cstdlib>
#include <mutex>
#include <set>
#include <utility>

#include "ops/blueprint_compiler.hpp"

namespace kasmina::ops {

namespace {

struct LiveCompilers {
  std::mutex mutex;
  std::set<BlueprintCompiler*> compilers;  // those that started a background compile
};

LiveCompilers& live() {
  static auto* l = new LiveCompilers();  // never destroyed: the exit handler reads it
  return *l;
}

}  // namespace

void finish_background_compiles() {
  // Joined under the lock, so that no compiler is destroyed meanwhile (its destructor waits for
  // the lock); a background compile takes no part of it.
  std::lock_guard<std::mutex> lock(live().mutex);
  for (BlueprintCompiler* c : live().compilers) c->join_background();
  live().compilers.clear();
}

int32_t running_background_compiles() {
  std::lock_guard<std::mutex> lock(live().mutex);
  int32_t n = 0;
  for (const BlueprintCompiler* c : live().compilers) n += c->background_running();
  return n;
}

void BlueprintCompiler::start_background(std::function<void()> work) {
  static std::once_flag once;
  std::call_once(once, [] {
    live();
    std::atexit(finish_background_compiles);
  });
  {
    std::lock_guard<std::mutex> lock(live().mutex);
    live().compilers.insert(this);
  }
  std::lock_guard<std::mutex> lock(mutex_);
  ++background_running_;
  threads_.emplace_back([this, work = std::move(work)] {
    struct Done {
      std::atomic<int32_t>& running;
      ~Done() { --running; }
    } done{background_running_};
    work();
  });
}

void BlueprintCompiler::join_background() {
  std::vector<std::thread> threads;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    threads.swap(threads_);
  }
  for (std::thread& t : threads) t.join();
}

BlueprintCompiler::~BlueprintCompiler() {
  {
    std::lock_guard<std::mutex> lock(live().mutex);
    live().compilers.erase(this);
  }
  join_background();
}

}  // namespace kasmina::ops

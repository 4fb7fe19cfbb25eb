// Compiles that outlive the get() that started them: a tiered compile's fused module, a compile
// past the time limit. Each runs on a thread of the compiler; the compiler's destructor joins
// them, and so does the process's exit, before the libraries' own objects are destroyed: a
// compiler that lives to the end of the process (process_blueprint_compiler) is destroyed after
// NVRTC's static objects (NVRTC was loaded after the compiler was made, and exit destroys in
// reverse order), so a compile still inside NVRTC then crashed the process. An exit handler
// registered when the first background compile starts (NVRTC is loaded by then) runs before
// them and waits for every live compiler's threads.
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

void join_at_exit() {
  std::set<BlueprintCompiler*> compilers;
  {
    std::lock_guard<std::mutex> lock(live().mutex);
    compilers.swap(live().compilers);
  }
  for (BlueprintCompiler* c : compilers) c->join_background();
}

}  // namespace

void BlueprintCompiler::start_background(std::function<void()> work) {
  static std::once_flag once;
  std::call_once(once, [] {
    live();
    std::atexit(join_at_exit);
  });
  {
    std::lock_guard<std::mutex> lock(live().mutex);
    live().compilers.insert(this);
  }
  std::lock_guard<std::mutex> lock(mutex_);
  threads_.emplace_back(std::move(work));
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

// On/off switches of the environment, the process-wide settings made from them, and the record
// of which KASMINA_* variables a process ran with.
#pragma once
#include <atomic>
#include <string>
#include <utility>
#include <vector>

namespace kasmina {

// Every environment variable whose name starts with KASMINA_ (name, value), sorted by name: what
// a run or a benchmark records beside its results, since these switches change what runs
// (docs/PRECISION.md) and where data and caches are read from.
std::vector<std::pair<std::string, std::string>> kasmina_environment();
// The same as one line: "NAME=value" pairs separated by single spaces ("" when none is set).
std::string kasmina_environment_line();

// An on/off switch of the environment: "1" on, "0" off, unset or empty `fallback`; any other
// value is refused with a UserError that names the variable and the allowed values.
bool env_switch(const char* name, bool fallback);

// A process-wide setting: env_switch(name, fallback) read when first asked, or what set() put
// there (tests, benchmarks). Define one object per setting at namespace scope (constant
// initialised: safe to ask from any static initialiser).
class ProcessSwitch {
 public:
  constexpr ProcessSwitch(const char* name, bool fallback) : name_(name), fallback_(fallback) {}
  bool on() {
    int v = state_.load(std::memory_order_relaxed);
    if (v < 0) {
      v = env_switch(name_, fallback_) ? 1 : 0;
      state_.store(v, std::memory_order_relaxed);
    }
    return v == 1;
  }
  void set(bool on) { state_.store(on ? 1 : 0, std::memory_order_relaxed); }

 private:
  const char* name_;
  bool fallback_;
  std::atomic<int> state_{-1};  // -1: not read yet
};

// Sets a process-wide setting, given by its getter and setter, for a scope and puts back what it
// was when the scope ends (tests and benchmarks).
class ScopedSwitch {
 public:
  ScopedSwitch(bool (*get)(), void (*set)(bool), bool value) : set_(set), was_(get()) {
    set_(value);
  }
  ~ScopedSwitch() { set_(was_); }
  ScopedSwitch(const ScopedSwitch&) = delete;
  ScopedSwitch& operator=(const ScopedSwitch&) = delete;

 private:
  void (*set_)(bool);
  bool was_;
};

}  // namespace kasmina

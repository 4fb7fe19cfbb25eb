// A CUDA library kasmina loads at run time (dlopen) rather than links, so that every build can use
// it where it is installed and a machine without it is told why and goes on (NVRTC: nvrtc.hpp,
// nvJitLink: nvjitlink.hpp).
#pragma once
#include <dlfcn.h>

#include <memory>
#include <string>
#include <vector>

namespace kasmina::ops {

// The first of `names` that loads, or only $`env` when it is set and not empty (RTLD_LOCAL, never
// closed); null with *why ("WHAT could not be loaded (tried A, B)").
void* open_library(const char* env, const std::vector<std::string>& names, const char* what,
                   std::string* why);

// *f = the entry point `name` of `lib`; false when it has none.
template <class F>
bool bind_symbol(void* lib, const char* name, F* f) {
  *f = reinterpret_cast<F>(::dlsym(lib, name));
  return *f != nullptr;
}

// A library's entry points and the object that uses them (null with why when it did not load).
template <class Api, class User>
struct LoadedLibrary {
  std::unique_ptr<Api> api;
  std::unique_ptr<User> user;
  std::string why;
};

// Load() once per process, never destroyed (a compile still running on another thread when the
// process exits keeps its entry points).
template <class Api, class User, LoadedLibrary<Api, User> (*Load)()>
const LoadedLibrary<Api, User>& load_once() {
  static const auto* l = new LoadedLibrary<Api, User>(Load());
  return *l;
}

}  // namespace kasmina::ops

#include "io/hdf5_handle.hpp"

#include <mutex>

namespace kasmina::io {

void hdf5_init() {
  static std::once_flag once;
  std::call_once(once, [] { H5open(); });
  // The automatic error printing is a setting of the calling thread in a thread-safe build.
  thread_local const bool quiet = H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr) >= 0;
  (void)quiet;
}

bool hdf5_thread_safe() {
  hdf5_init();
  hbool_t safe = false;
  return H5is_library_threadsafe(&safe) >= 0 && safe;
}

namespace {

herr_t collect_innermost(unsigned /*n*/, const H5E_error2_t* err, void* out) {
  auto* text = static_cast<std::string*>(out);
  if (err->desc && err->desc[0]) *text = err->desc;
  return 0;
}

}  // namespace

std::string hdf5_error_detail() {
  std::string text;
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_DOWNWARD, collect_innermost, &text);
  H5Eclear2(H5E_DEFAULT);
  // Some details span lines (a driver's "time = ..., filename = ..."): messages are one line.
  for (char& c : text)
    if (c == '\n' || c == '\r') c = ' ';
  return text;
}

void throw_hdf5(const std::string& what) {
  const std::string detail = hdf5_error_detail();
  throw Hdf5Error(detail.empty() ? what : what + ": " + detail);
}

H5Id::H5Id(hid_t id, Closer closer, const std::string& what) : id_(id), closer_(closer) {
  if (id < 0) throw_hdf5(what);
}

H5Id& H5Id::operator=(H5Id&& other) noexcept {
  if (this != &other) {
    reset();
    id_ = other.id_;
    closer_ = other.closer_;
    other.id_ = -1;
  }
  return *this;
}

void H5Id::close(const std::string& what) {
  if (id_ < 0) return;
  const hid_t id = id_;
  id_ = -1;
  h5_check(closer_(id), what);
}

void H5Id::reset() noexcept {
  if (id_ < 0) return;
  closer_(id_);
  id_ = -1;
  H5Eclear2(H5E_DEFAULT);
}

}  // namespace kasmina::io

// RAII ownership of HDF5 identifiers (files, groups, datasets, attributes, dataspaces, types,
// property lists) and the conversion of HDF5 failures into exceptions.
//
// HDF5's automatic error printing is switched off by hdf5_init(), which every entry point of
// src/io calls; a failing call is turned into an Hdf5Error carrying the innermost message of
// HDF5's error stack. Writers let Hdf5Error through (it is an InternalError); readers of
// user-given files translate it into a UserError naming the file.
#pragma once
#include <hdf5.h>

#include <string>

#include "core/error.hpp"

namespace kasmina::io {

// An HDF5 library call failed. `what` says which operation; the HDF5 detail is appended.
class Hdf5Error : public InternalError {
 public:
  explicit Hdf5Error(const std::string& msg) : InternalError(msg) {}
};

// Switches off HDF5's automatic error printing (once per thread: a thread-safe HDF5 keeps the
// setting per thread). Cheap to call repeatedly.
void hdf5_init();

// Whether the HDF5 library was built thread-safe (its calls may come from several threads).
bool hdf5_thread_safe();

// The innermost description on HDF5's current error stack, on one line (empty when the stack is
// empty); clears the stack.
std::string hdf5_error_detail();

// Throws Hdf5Error("<what>: <HDF5 detail>").
[[noreturn]] void throw_hdf5(const std::string& what);

// Throws Hdf5Error when `status` is negative (HDF5's failure convention for herr_t / htri_t).
inline void h5_check(herr_t status, const std::string& what) {
  if (status < 0) throw_hdf5(what);
}

// Owns one HDF5 identifier and closes it with the matching H5?close function.
class H5Id {
 public:
  using Closer = herr_t (*)(hid_t);

  H5Id() = default;
  // Takes ownership of `id`; throws Hdf5Error("<what>: ...") when `id` is negative.
  H5Id(hid_t id, Closer closer, const std::string& what);
  ~H5Id() { reset(); }
  H5Id(const H5Id&) = delete;
  H5Id& operator=(const H5Id&) = delete;
  H5Id(H5Id&& other) noexcept : id_(other.id_), closer_(other.closer_) { other.id_ = -1; }
  H5Id& operator=(H5Id&& other) noexcept;

  hid_t get() const { return id_; }
  operator hid_t() const { return id_; }  // NOLINT: handles are passed straight to the C API
  bool valid() const { return id_ >= 0; }
  // Closes now; a failing close throws Hdf5Error (used where the close itself must succeed,
  // e.g. a file whose data must be on disk).
  void close(const std::string& what);
  // Closes, ignoring failures (used by the destructor).
  void reset() noexcept;

 private:
  hid_t id_ = -1;
  Closer closer_ = nullptr;
};

// Typed constructors: each wraps a freshly returned id with its closer.
inline H5Id own_file(hid_t id, const std::string& what) {
  return H5Id(id, H5Fclose, what);
}
inline H5Id own_group(hid_t id, const std::string& what) {
  return H5Id(id, H5Gclose, what);
}
inline H5Id own_dataset(hid_t id, const std::string& what) {
  return H5Id(id, H5Dclose, what);
}
inline H5Id own_attribute(hid_t id, const std::string& what) {
  return H5Id(id, H5Aclose, what);
}
inline H5Id own_space(hid_t id, const std::string& what) {
  return H5Id(id, H5Sclose, what);
}
inline H5Id own_type(hid_t id, const std::string& what) {
  return H5Id(id, H5Tclose, what);
}
inline H5Id own_plist(hid_t id, const std::string& what) {
  return H5Id(id, H5Pclose, what);
}

}  // namespace kasmina::io

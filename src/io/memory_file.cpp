#include "io/memory_file.hpp"

#include <atomic>

namespace kasmina::io {

namespace {

// Memory grows in steps of this many bytes.
constexpr size_t kMemoryIncrement = size_t{1} << 20;

}  // namespace

H5Id create_memory_file(const std::string& name) {
  hdf5_init();
  // HDF5 tells open files apart by name: every in-memory file gets its own.
  static std::atomic<long> counter{0};
  const std::string unique = name + "#memory-" + std::to_string(counter.fetch_add(1));
  H5Id fapl = own_plist(H5Pcreate(H5P_FILE_ACCESS), "file access property list");
  h5_check(H5Pset_fapl_core(fapl, kMemoryIncrement, /*backing_store=*/false),
           "in-memory file driver");
  h5_check(H5Pset_fclose_degree(fapl, H5F_CLOSE_STRONG), "set file close degree");
  return own_file(H5Fcreate(unique.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, fapl),
                  "create in-memory file for '" + name + "'");
}

std::vector<unsigned char> file_image(hid_t file, const std::string& name) {
  h5_check(H5Fflush(file, H5F_SCOPE_GLOBAL), "flush " + name);
  const ssize_t size = H5Fget_file_image(file, nullptr, 0);
  if (size < 0) throw_hdf5("image of " + name);
  std::vector<unsigned char> image(static_cast<size_t>(size));
  if (H5Fget_file_image(file, image.data(), image.size()) != size) throw_hdf5("image of " + name);
  return image;
}

}  // namespace kasmina::io

// HDF5 files assembled in memory (HDF5's core driver, no backing store) and stored as a whole:
// HDF5 never writes to the disk itself, so a write error, a full disk or a kill cannot leave a
// half-written HDF5 file, and a failure is a plain system error naming the file (atomic_file.hpp).
// The checkpoint writer builds each checkpoint this way; the telemetry writer keeps its file in
// memory for the whole run and stores it at every flush.
#pragma once
#include <string>
#include <vector>

#include "io/hdf5_handle.hpp"

namespace kasmina::io {

// A new, empty HDF5 file in memory. `name` identifies it in messages (the path it will be
// stored at).
H5Id create_memory_file(const std::string& name);

// The complete bytes of an open HDF5 file (flushed first).
std::vector<unsigned char> file_image(hid_t file, const std::string& name);

}  // namespace kasmina::io

// One append-only HDF5 dataset of the telemetry file: unlimited first dimension, chunked,
// compressed (shuffle + deflate), fed from host memory through a small buffer.
//
// Rows are buffered and written when a chunk's worth is pending or on write_pending(). Each
// write also refreshes two attributes of the dataset: `checksum` (CRC-32 of the first
// `checksum_rows` rows, see checksum.hpp) and `checksum_rows`, so that whatever reached the
// disk at the last file flush is self-consistent even if later rows were half written.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "core/dtype.hpp"
#include "core/tensor.hpp"
#include "io/hdf5_handle.hpp"

namespace kasmina::io {

inline constexpr int kTelemetryDeflateLevel = 4;

class ExtendableColumn {
 public:
  // A numeric column whose rows have shape `row_shape` ({} for one value per row).
  static ExtendableColumn numeric(hid_t loc, const std::string& name, DType dtype,
                                  const Shape& row_shape, int64_t chunk_rows);
  // A column of variable-length UTF-8 strings, one per row.
  static ExtendableColumn strings(hid_t loc, const std::string& name, int64_t chunk_rows);

  ExtendableColumn(ExtendableColumn&&) noexcept = default;
  ExtendableColumn& operator=(ExtendableColumn&&) noexcept = default;

  // Appends `rows` rows of a numeric column (rows * row size elements of its dtype).
  void append(const void* data, int64_t rows);
  // Appends one value of a one-value-per-row numeric column.
  template <class T>
  void append_value(T v) {
    append(&v, 1);
  }
  // Appends one row of a string column.
  void append_string(std::string value);
  // Writes every pending row to the file and refreshes the checksum attributes.
  void write_pending();

  int64_t rows() const { return rows_written_ + pending_rows_; }
  const std::string& name() const { return name_; }

 private:
  ExtendableColumn() = default;

  H5Id dataset_;
  std::string name_;
  bool is_string_ = false;
  DType dtype_ = DType::f32;
  Shape row_shape_;
  size_t row_bytes_ = 0;
  int64_t chunk_rows_ = 1;
  int64_t rows_written_ = 0;
  int64_t pending_rows_ = 0;
  std::vector<unsigned char> pending_bytes_;
  std::vector<std::string> pending_strings_;
  uint32_t checksum_ = 0;
};

}  // namespace kasmina::io

#include "io/extendable_column.hpp"

#include <cstring>

#include "io/checksum.hpp"
#include "io/hdf5_io.hpp"

namespace kasmina::io {

namespace {

H5Id create_extendable(hid_t loc, const std::string& name, hid_t file_type, const Shape& row_shape,
                       int64_t chunk_rows, bool shuffle) {
  std::vector<hsize_t> dims{0}, maxdims{H5S_UNLIMITED}, chunk{static_cast<hsize_t>(chunk_rows)};
  for (int64_t d : row_shape) {
    dims.push_back(static_cast<hsize_t>(d));
    maxdims.push_back(static_cast<hsize_t>(d));
    chunk.push_back(static_cast<hsize_t>(d));
  }
  const int rank = static_cast<int>(dims.size());
  H5Id space = own_space(H5Screate_simple(rank, dims.data(), maxdims.data()), "dataspace");
  H5Id dcpl = own_plist(H5Pcreate(H5P_DATASET_CREATE), "dataset creation property list");
  h5_check(H5Pset_chunk(dcpl, rank, chunk.data()), "set chunk shape of '" + name + "'");
  if (shuffle) h5_check(H5Pset_shuffle(dcpl), "set shuffle filter of '" + name + "'");
  h5_check(H5Pset_deflate(dcpl, kTelemetryDeflateLevel), "set deflate filter of '" + name + "'");
  H5Id lcpl = own_plist(H5Pcreate(H5P_LINK_CREATE), "link creation property list");
  h5_check(H5Pset_create_intermediate_group(lcpl, 1), "set intermediate group creation");
  return own_dataset(H5Dcreate2(loc, name.c_str(), file_type, space, lcpl, dcpl, H5P_DEFAULT),
                     "create dataset '" + name + "'");
}

}  // namespace

ExtendableColumn ExtendableColumn::numeric(hid_t loc, const std::string& name, DType dtype,
                                           const Shape& row_shape, int64_t chunk_rows) {
  KASMINA_CHECK(chunk_rows > 0, "chunk_rows must be positive");
  ExtendableColumn c;
  c.name_ = name;
  c.dtype_ = dtype;
  c.row_shape_ = row_shape;
  c.row_bytes_ = static_cast<size_t>(shape_numel(row_shape)) * dtype_size(dtype);
  c.chunk_rows_ = chunk_rows;
  c.dataset_ = create_extendable(loc, name, file_type_of(dtype), row_shape, chunk_rows, true);
  write_attribute_u32(c.dataset_, "checksum", 0);
  write_attribute_i64(c.dataset_, "checksum_rows", 0);
  return c;
}

ExtendableColumn ExtendableColumn::strings(hid_t loc, const std::string& name, int64_t chunk_rows) {
  KASMINA_CHECK(chunk_rows > 0, "chunk_rows must be positive");
  ExtendableColumn c;
  c.name_ = name;
  c.is_string_ = true;
  c.chunk_rows_ = chunk_rows;
  H5Id type = make_string_type();
  c.dataset_ = create_extendable(loc, name, type, {}, chunk_rows, false);
  write_attribute_u32(c.dataset_, "checksum", 0);
  write_attribute_i64(c.dataset_, "checksum_rows", 0);
  return c;
}

void ExtendableColumn::append(const void* data, int64_t rows) {
  KASMINA_CHECK(!is_string_, "numeric append to string column '" + name_ + "'");
  KASMINA_CHECK(rows >= 0, "negative row count");
  const size_t bytes = static_cast<size_t>(rows) * row_bytes_;
  const size_t old = pending_bytes_.size();
  pending_bytes_.resize(old + bytes);
  if (bytes) std::memcpy(pending_bytes_.data() + old, data, bytes);
  pending_rows_ += rows;
  if (pending_rows_ >= chunk_rows_) write_pending();
}

void ExtendableColumn::append_string(std::string value) {
  KASMINA_CHECK(is_string_, "string append to numeric column '" + name_ + "'");
  pending_strings_.push_back(std::move(value));
  ++pending_rows_;
  if (pending_rows_ >= chunk_rows_) write_pending();
}

void ExtendableColumn::write_pending() {
  if (pending_rows_ == 0) return;
  const std::string what = "append to '" + name_ + "'";
  std::vector<hsize_t> dims{static_cast<hsize_t>(rows_written_ + pending_rows_)};
  std::vector<hsize_t> start{static_cast<hsize_t>(rows_written_)};
  std::vector<hsize_t> count{static_cast<hsize_t>(pending_rows_)};
  for (int64_t d : row_shape_) {
    dims.push_back(static_cast<hsize_t>(d));
    start.push_back(0);
    count.push_back(static_cast<hsize_t>(d));
  }
  h5_check(H5Dset_extent(dataset_, dims.data()), what);
  H5Id file_space = own_space(H5Dget_space(dataset_), what);
  h5_check(
      H5Sselect_hyperslab(file_space, H5S_SELECT_SET, start.data(), nullptr, count.data(), nullptr),
      what);
  H5Id mem_space =
      own_space(H5Screate_simple(static_cast<int>(count.size()), count.data(), nullptr), what);
  if (is_string_) {
    H5Id type = make_string_type();
    std::vector<const char*> ptrs;
    for (const auto& s : pending_strings_) ptrs.push_back(s.c_str());
    h5_check(H5Dwrite(dataset_, type, mem_space, file_space, H5P_DEFAULT, ptrs.data()), what);
    checksum_ = crc32_update_strings(checksum_, pending_strings_);
    pending_strings_.clear();
  } else {
    h5_check(H5Dwrite(dataset_, native_type_of(dtype_), mem_space, file_space, H5P_DEFAULT,
                      pending_bytes_.data()),
             what);
    checksum_ = crc32_update(checksum_, pending_bytes_.data(), pending_bytes_.size());
    pending_bytes_.clear();
  }
  rows_written_ += pending_rows_;
  pending_rows_ = 0;
  write_attribute_u32(dataset_, "checksum", checksum_);
  write_attribute_i64(dataset_, "checksum_rows", rows_written_);
}

}  // namespace kasmina::io

// Typed reading and writing of HDF5 datasets and attributes from host memory.
//
// Element types in files are the explicit little-endian standard types (H5T_IEEE_F32LE,
// H5T_IEEE_F64LE, H5T_STD_I32LE, H5T_STD_I64LE, H5T_STD_U8LE); strings are variable-length
// UTF-8. Every failure throws Hdf5Error naming the object.
#pragma once
#include <hdf5.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/dtype.hpp"
#include "core/tensor.hpp"
#include "io/hdf5_handle.hpp"

namespace kasmina::io {

// An n-dimensional array of one element type, in host memory, row-major.
struct HostArray {
  DType dtype = DType::f32;
  Shape shape;                       // {} for a scalar
  std::vector<unsigned char> bytes;  // numel * dtype_size(dtype)
};

// HDF5 types for a DType (bf16 is not storable: InternalError).
hid_t file_type_of(DType t);
hid_t native_type_of(DType t);
// The DType of a dataset's or attribute's numeric element type; throws Hdf5Error naming
// `where` for anything else.
DType dtype_of_hdf5(hid_t type, const std::string& where);
// A new variable-length UTF-8 string type.
H5Id make_string_type();

// True when every component of the '/'-separated `path` exists below `loc`.
bool path_exists(hid_t loc, const std::string& path);
// The object type (H5O_TYPE_GROUP, H5O_TYPE_DATASET, ...) at `path` below `loc`.
H5O_type_t object_type(hid_t loc, const std::string& path);

H5Id create_group(hid_t loc, const std::string& name);
H5Id open_group(hid_t loc, const std::string& name);
H5Id open_dataset(hid_t loc, const std::string& name);
// The names of the links directly inside a group, in name order.
std::vector<std::string> list_children(hid_t group);

// Attributes (created, or overwritten when present with the same type and shape).
bool has_attribute(hid_t obj, const std::string& name);
void write_attribute_string(hid_t obj, const std::string& name, const std::string& value);
void write_attribute_strings(hid_t obj, const std::string& name,
                             const std::vector<std::string>& values);
void write_attribute_i64(hid_t obj, const std::string& name, int64_t value);
void write_attribute_u32(hid_t obj, const std::string& name, uint32_t value);
void write_attribute_f64(hid_t obj, const std::string& name, double value);
std::string read_attribute_string(hid_t obj, const std::string& name);
std::vector<std::string> read_attribute_strings(hid_t obj, const std::string& name);
int64_t read_attribute_i64(hid_t obj, const std::string& name);
uint32_t read_attribute_u32(hid_t obj, const std::string& name);
double read_attribute_f64(hid_t obj, const std::string& name);

// A contiguous numeric dataset holding `shape` elements of `dtype` from `data` (creating
// intermediate groups of `name`). shape {} gives a scalar dataset.
H5Id write_array(hid_t loc, const std::string& name, DType dtype, const Shape& shape,
                 const void* data);
// A string dataset: scalar when `scalar` (then values.size() must be 1), else 1-D.
H5Id write_strings(hid_t loc, const std::string& name, const std::vector<std::string>& values,
                   bool scalar);

// The dataset's shape ({} when scalar).
Shape dataset_shape(hid_t dataset);
// Reads a numeric dataset; with `rows`, only the first `rows` entries of the first dimension.
HostArray read_array(hid_t dataset, std::optional<int64_t> rows = std::nullopt);
// Reads a string dataset (scalar or 1-D, variable or fixed length); with `rows`, only the first.
std::vector<std::string> read_strings(hid_t dataset, std::optional<int64_t> rows = std::nullopt);
// True when the dataset's element type is a string.
bool is_string_dataset(hid_t dataset);

// Copies a host array into a new CPU tensor and back.
Tensor to_tensor(const HostArray& a);
HostArray to_host_array(const Tensor& t);

}  // namespace kasmina::io

#include "io/hdf5_io.hpp"

#include <cstdio>
#include <cstring>

namespace kasmina::io {

namespace {

// The HDF5 types of a DType: the explicit little-endian type in files and the native type in
// memory; nullopt for bf16 (not storable).
struct Hdf5Types {
  hid_t file, native;
};

std::optional<Hdf5Types> hdf5_types(DType t) {
  switch (t) {
    case DType::f32:
      return Hdf5Types{H5T_IEEE_F32LE, H5T_NATIVE_FLOAT};
    case DType::f64:
      return Hdf5Types{H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE};
    case DType::i32:
      return Hdf5Types{H5T_STD_I32LE, H5T_NATIVE_INT32};
    case DType::i64:
      return Hdf5Types{H5T_STD_I64LE, H5T_NATIVE_INT64};
    case DType::u8:
      return Hdf5Types{H5T_STD_U8LE, H5T_NATIVE_UINT8};
    case DType::bf16:
      break;
  }
  return std::nullopt;
}

}  // namespace

hid_t file_type_of(DType t) {
  const auto types = hdf5_types(t);
  KASMINA_CHECK(types.has_value(), std::string("no HDF5 file type for dtype ") + dtype_name(t));
  return types->file;
}

hid_t native_type_of(DType t) {
  const auto types = hdf5_types(t);
  KASMINA_CHECK(types.has_value(), std::string("no HDF5 native type for dtype ") + dtype_name(t));
  return types->native;
}

DType dtype_of_hdf5(hid_t type, const std::string& where) {
  const H5T_class_t cls = H5Tget_class(type);
  const size_t size = H5Tget_size(type);
  if (cls == H5T_FLOAT && size == 4) return DType::f32;
  if (cls == H5T_FLOAT && size == 8) return DType::f64;
  if (cls == H5T_INTEGER) {
    const bool is_signed = H5Tget_sign(type) == H5T_SGN_2;
    if (is_signed && size == 4) return DType::i32;
    if (is_signed && size == 8) return DType::i64;
    if (!is_signed && size == 1) return DType::u8;
  }
  throw Hdf5Error(where + ": unsupported element type (class " + std::to_string(cls) + ", " +
                  std::to_string(size) + " bytes)");
}

H5Id make_string_type() {
  H5Id t = own_type(H5Tcopy(H5T_C_S1), "copy string type");
  h5_check(H5Tset_size(t, H5T_VARIABLE), "variable-length string type");
  h5_check(H5Tset_cset(t, H5T_CSET_UTF8), "UTF-8 string type");
  return t;
}

bool path_exists(hid_t loc, const std::string& path) {
  size_t start = 0;
  while (start <= path.size()) {
    const size_t slash = path.find('/', start);
    const std::string prefix = path.substr(0, slash);
    if (!prefix.empty() && prefix.back() != '/') {
      const htri_t e = H5Lexists(loc, prefix.c_str(), H5P_DEFAULT);
      if (e <= 0) {
        H5Eclear2(H5E_DEFAULT);
        return false;
      }
    }
    if (slash == std::string::npos) break;
    start = slash + 1;
  }
  return true;
}

H5O_type_t object_type(hid_t loc, const std::string& path) {
  H5O_info_t info;
  h5_check(H5Oget_info_by_name(loc, path.c_str(), &info, H5P_DEFAULT), "inspect '" + path + "'");
  return info.type;
}

namespace {

H5Id intermediate_groups_plist() {
  H5Id lcpl = own_plist(H5Pcreate(H5P_LINK_CREATE), "link creation property list");
  h5_check(H5Pset_create_intermediate_group(lcpl, 1), "set intermediate group creation");
  h5_check(H5Pset_char_encoding(lcpl, H5T_CSET_UTF8), "set UTF-8 link names");
  return lcpl;
}

H5Id space_of(const Shape& shape) {
  if (shape.empty()) return own_space(H5Screate(H5S_SCALAR), "scalar dataspace");
  std::vector<hsize_t> dims(shape.begin(), shape.end());
  return own_space(H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr),
                   "dataspace " + shape_str(shape));
}

H5Id open_or_create_attribute(hid_t obj, const std::string& name, hid_t type, hid_t space) {
  if (has_attribute(obj, name)) {
    // Overwrite in place when type and size match (keeps the object header stable); else
    // replace.
    H5Id attr =
        own_attribute(H5Aopen(obj, name.c_str(), H5P_DEFAULT), "open attribute '" + name + "'");
    H5Id old_type = own_type(H5Aget_type(attr), "attribute type");
    H5Id old_space = own_space(H5Aget_space(attr), "attribute space");
    if (H5Tequal(old_type, type) > 0 && H5Sextent_equal(old_space, space) > 0) return attr;
    attr.reset();
    h5_check(H5Adelete(obj, name.c_str()), "replace attribute '" + name + "'");
  }
  return own_attribute(H5Acreate2(obj, name.c_str(), type, space, H5P_DEFAULT, H5P_DEFAULT),
                       "create attribute '" + name + "'");
}

template <class T>
void write_numeric_attribute(hid_t obj, const std::string& name, hid_t file_type, hid_t mem_type,
                             T value) {
  H5Id space = own_space(H5Screate(H5S_SCALAR), "scalar dataspace");
  H5Id attr = open_or_create_attribute(obj, name, file_type, space);
  h5_check(H5Awrite(attr, mem_type, &value), "write attribute '" + name + "'");
}

template <class T>
T read_numeric_attribute(hid_t obj, const std::string& name, hid_t mem_type) {
  H5Id attr =
      own_attribute(H5Aopen(obj, name.c_str(), H5P_DEFAULT), "open attribute '" + name + "'");
  H5Id space = own_space(H5Aget_space(attr), "attribute space");
  if (H5Sget_simple_extent_npoints(space) != 1)
    throw Hdf5Error("attribute '" + name + "' is not a single value");
  T value{};
  h5_check(H5Aread(attr, mem_type, &value), "read attribute '" + name + "'");
  return value;
}

// Reads `count` strings of the object's type into `out` via `read` (H5Aread or H5Dread).
template <class ReadFn>
std::vector<std::string> read_string_values(hid_t file_type, hid_t mem_space, size_t count,
                                            ReadFn read, const std::string& what) {
  if (H5Tget_class(file_type) != H5T_STRING) throw Hdf5Error(what + ": not a string");
  std::vector<std::string> out;
  out.reserve(count);
  const htri_t variable = H5Tis_variable_str(file_type);
  h5_check(variable, what + ": string type");
  if (variable) {
    H5Id mem_type = own_type(H5Tcopy(file_type), "copy string type");
    std::vector<char*> ptrs(count, nullptr);
    h5_check(read(mem_type.get(), static_cast<void*>(ptrs.data())), what);
    for (char* p : ptrs) out.emplace_back(p ? p : "");
    H5Dvlen_reclaim(mem_type, mem_space, H5P_DEFAULT, ptrs.data());
  } else {
    const size_t width = H5Tget_size(file_type);
    H5Id mem_type = own_type(H5Tcopy(file_type), "copy string type");
    std::vector<char> buf(width * count + 1, '\0');
    h5_check(read(mem_type.get(), static_cast<void*>(buf.data())), what);
    for (size_t i = 0; i < count; ++i) {
      const char* p = buf.data() + i * width;
      out.emplace_back(p, strnlen(p, width));
    }
  }
  return out;
}

}  // namespace

H5Id create_group(hid_t loc, const std::string& name) {
  H5Id lcpl = intermediate_groups_plist();
  return own_group(H5Gcreate2(loc, name.c_str(), lcpl, H5P_DEFAULT, H5P_DEFAULT),
                   "create group '" + name + "'");
}

H5Id open_group(hid_t loc, const std::string& name) {
  return own_group(H5Gopen2(loc, name.c_str(), H5P_DEFAULT), "open group '" + name + "'");
}

H5Id open_dataset(hid_t loc, const std::string& name) {
  return own_dataset(H5Dopen2(loc, name.c_str(), H5P_DEFAULT), "open dataset '" + name + "'");
}

std::vector<std::string> list_children(hid_t group) {
  H5G_info_t info;
  h5_check(H5Gget_info(group, &info), "group info");
  std::vector<std::string> names;
  for (hsize_t i = 0; i < info.nlinks; ++i) {
    const ssize_t n =
        H5Lget_name_by_idx(group, ".", H5_INDEX_NAME, H5_ITER_INC, i, nullptr, 0, H5P_DEFAULT);
    if (n < 0) throw_hdf5("link name");
    std::string name(static_cast<size_t>(n) + 1, '\0');
    if (H5Lget_name_by_idx(group, ".", H5_INDEX_NAME, H5_ITER_INC, i, name.data(), name.size(),
                           H5P_DEFAULT) < 0)
      throw_hdf5("link name");
    name.resize(static_cast<size_t>(n));
    names.push_back(std::move(name));
  }
  return names;
}

bool has_attribute(hid_t obj, const std::string& name) {
  const htri_t e = H5Aexists(obj, name.c_str());
  h5_check(e, "look up attribute '" + name + "'");
  return e > 0;
}

void write_attribute_string(hid_t obj, const std::string& name, const std::string& value) {
  H5Id type = make_string_type();
  H5Id space = own_space(H5Screate(H5S_SCALAR), "scalar dataspace");
  H5Id attr = open_or_create_attribute(obj, name, type, space);
  const char* p = value.c_str();
  h5_check(H5Awrite(attr, type, &p), "write attribute '" + name + "'");
}

void write_attribute_strings(hid_t obj, const std::string& name,
                             const std::vector<std::string>& values) {
  H5Id type = make_string_type();
  H5Id space = space_of({static_cast<int64_t>(values.size())});
  H5Id attr = open_or_create_attribute(obj, name, type, space);
  std::vector<const char*> ptrs;
  for (const auto& v : values) ptrs.push_back(v.c_str());
  h5_check(H5Awrite(attr, type, ptrs.data()), "write attribute '" + name + "'");
}

void write_attribute_i64(hid_t obj, const std::string& name, int64_t value) {
  write_numeric_attribute(obj, name, H5T_STD_I64LE, H5T_NATIVE_INT64, value);
}
void write_attribute_u32(hid_t obj, const std::string& name, uint32_t value) {
  write_numeric_attribute(obj, name, H5T_STD_U32LE, H5T_NATIVE_UINT32, value);
}
void write_attribute_f64(hid_t obj, const std::string& name, double value) {
  write_numeric_attribute(obj, name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, value);
}

int64_t read_attribute_i64(hid_t obj, const std::string& name) {
  return read_numeric_attribute<int64_t>(obj, name, H5T_NATIVE_INT64);
}
uint32_t read_attribute_u32(hid_t obj, const std::string& name) {
  return read_numeric_attribute<uint32_t>(obj, name, H5T_NATIVE_UINT32);
}
double read_attribute_f64(hid_t obj, const std::string& name) {
  return read_numeric_attribute<double>(obj, name, H5T_NATIVE_DOUBLE);
}

std::vector<std::string> read_attribute_strings(hid_t obj, const std::string& name) {
  H5Id attr =
      own_attribute(H5Aopen(obj, name.c_str(), H5P_DEFAULT), "open attribute '" + name + "'");
  H5Id type = own_type(H5Aget_type(attr), "attribute type");
  H5Id space = own_space(H5Aget_space(attr), "attribute space");
  const hssize_t n = H5Sget_simple_extent_npoints(space);
  if (n < 0) throw_hdf5("attribute '" + name + "' size");
  return read_string_values(
      type, space, static_cast<size_t>(n),
      [&](hid_t mem_type, void* buf) { return H5Aread(attr, mem_type, buf); },
      "read attribute '" + name + "'");
}

std::string read_attribute_string(hid_t obj, const std::string& name) {
  auto values = read_attribute_strings(obj, name);
  if (values.size() != 1) throw Hdf5Error("attribute '" + name + "' is not a single string");
  return values.front();
}

H5Id write_array(hid_t loc, const std::string& name, DType dtype, const Shape& shape,
                 const void* data) {
  H5Id space = space_of(shape);
  H5Id lcpl = intermediate_groups_plist();
  H5Id ds = own_dataset(
      H5Dcreate2(loc, name.c_str(), file_type_of(dtype), space, lcpl, H5P_DEFAULT, H5P_DEFAULT),
      "create dataset '" + name + "'");
  if (shape_numel(shape) > 0)
    h5_check(H5Dwrite(ds, native_type_of(dtype), H5S_ALL, H5S_ALL, H5P_DEFAULT, data),
             "write dataset '" + name + "'");
  return ds;
}

H5Id write_strings(hid_t loc, const std::string& name, const std::vector<std::string>& values,
                   bool scalar) {
  KASMINA_CHECK(!scalar || values.size() == 1, "a scalar string dataset holds one value");
  H5Id type = make_string_type();
  H5Id space = scalar ? space_of({}) : space_of({static_cast<int64_t>(values.size())});
  H5Id lcpl = intermediate_groups_plist();
  H5Id ds = own_dataset(H5Dcreate2(loc, name.c_str(), type, space, lcpl, H5P_DEFAULT, H5P_DEFAULT),
                        "create dataset '" + name + "'");
  std::vector<const char*> ptrs;
  for (const auto& v : values) ptrs.push_back(v.c_str());
  if (!ptrs.empty())
    h5_check(H5Dwrite(ds, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, ptrs.data()),
             "write dataset '" + name + "'");
  return ds;
}

Shape dataset_shape(hid_t dataset) {
  H5Id space = own_space(H5Dget_space(dataset), "dataset space");
  const int rank = H5Sget_simple_extent_ndims(space);
  if (rank < 0) throw_hdf5("dataset rank");
  std::vector<hsize_t> dims(static_cast<size_t>(rank));
  if (rank > 0 && H5Sget_simple_extent_dims(space, dims.data(), nullptr) < 0)
    throw_hdf5("dataset dimensions");
  for (hsize_t d : dims)
    if (d > static_cast<hsize_t>(INT64_MAX))
      throw Hdf5Error("dataset dimension " + std::to_string(d) + " is out of range");
  return Shape(dims.begin(), dims.end());
}

namespace {

// Selects the first `rows` entries of the first dimension of `space` (all of it without `rows`)
// and returns the memory space matching the selection plus the selected shape.
std::pair<H5Id, Shape> select_rows(hid_t space, const Shape& full, std::optional<int64_t> rows) {
  if (!rows || full.empty()) {
    if (full.empty()) return {own_space(H5Screate(H5S_SCALAR), "scalar dataspace"), full};
    std::vector<hsize_t> dims(full.begin(), full.end());
    return {own_space(H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr),
                      "memory space"),
            full};
  }
  if (*rows > full[0])
    throw Hdf5Error("asked for " + std::to_string(*rows) + " rows of a dataset with " +
                    std::to_string(full[0]));
  Shape shape = full;
  shape[0] = *rows;
  std::vector<hsize_t> start(full.size(), 0), count(shape.begin(), shape.end());
  h5_check(H5Sselect_hyperslab(space, H5S_SELECT_SET, start.data(), nullptr, count.data(), nullptr),
           "select rows");
  return {own_space(H5Screate_simple(static_cast<int>(count.size()), count.data(), nullptr),
                    "memory space"),
          shape};
}

// Deflate inflates at most 1032:1; the shuffle filter keeps the size.
constexpr double kMaxInflation = 1100.0;

// The bytes of a selection of `shape` (elements of `element_bytes`); HUGE_VAL past 2^64.
double logical_bytes(const Shape& shape, size_t element_bytes) {
  double bytes = static_cast<double>(element_bytes);
  for (int64_t d : shape) bytes *= static_cast<double>(d);
  return bytes;
}

// A dataset's dataspace is only a claim: before anything is allocated for reading `selected`,
// the claim is checked against the bytes the file really stores for the dataset (times the
// largest inflation of its filters), so a small file cannot make the reader allocate without
// bound. Throws Hdf5Error "claims N elements (B bytes) but the file stores S bytes for it".
void check_storage_covers(hid_t dataset, const Shape& selected) {
  H5Id type = own_type(H5Dget_type(dataset), "dataset type");
  // At least this many bytes per element in the file (a variable-length string's reference
  // takes 16, its pointer in memory 8).
  const size_t element_bytes = H5Tget_size(type);
  const double wanted = logical_bytes(selected, element_bytes);
  if (wanted == 0.0) return;
  H5Id dcpl = own_plist(H5Dget_create_plist(dataset), "dataset creation properties");
  const bool filtered = H5Pget_nfilters(dcpl) > 0;
  const auto stored = static_cast<double>(H5Dget_storage_size(dataset));
  if (wanted <= stored * (filtered ? kMaxInflation : 1.0)) return;
  const double elements = logical_bytes(selected, 1);
  char text[160];
  std::snprintf(text, sizeof text,
                "claims %.0f elements (%.0f bytes) but the file stores %.0f bytes for it", elements,
                wanted, stored);
  throw Hdf5Error(text);
}

}  // namespace

HostArray read_array(hid_t dataset, std::optional<int64_t> rows) {
  H5Id type = own_type(H5Dget_type(dataset), "dataset type");
  HostArray a;
  a.dtype = dtype_of_hdf5(type, "dataset");
  H5Id space = own_space(H5Dget_space(dataset), "dataset space");
  auto [mem_space, shape] = select_rows(space, dataset_shape(dataset), rows);
  check_storage_covers(dataset, shape);
  a.shape = shape;
  a.bytes.resize(static_cast<size_t>(shape_numel(shape)) * dtype_size(a.dtype));
  if (!a.bytes.empty())
    h5_check(
        H5Dread(dataset, native_type_of(a.dtype), mem_space, space, H5P_DEFAULT, a.bytes.data()),
        "read dataset");
  return a;
}

std::vector<std::string> read_strings(hid_t dataset, std::optional<int64_t> rows) {
  H5Id type = own_type(H5Dget_type(dataset), "dataset type");
  H5Id space = own_space(H5Dget_space(dataset), "dataset space");
  const Shape full = dataset_shape(dataset);
  if (full.size() > 1) throw Hdf5Error("string dataset of rank " + std::to_string(full.size()));
  auto [mem_space, shape] = select_rows(space, full, rows);
  check_storage_covers(dataset, shape);
  const auto count = static_cast<size_t>(shape_numel(shape));
  if (count == 0) return {};
  return read_string_values(
      type, mem_space, count,
      [&, ms = mem_space.get()](hid_t mem_type, void* buf) {
        return H5Dread(dataset, mem_type, ms, space, H5P_DEFAULT, buf);
      },
      "read string dataset");
}

bool is_string_dataset(hid_t dataset) {
  H5Id type = own_type(H5Dget_type(dataset), "dataset type");
  return H5Tget_class(type) == H5T_STRING;
}

Tensor to_tensor(const HostArray& a) {
  Tensor t = Tensor::empty(a.shape, a.dtype, Device::cpu());
  KASMINA_CHECK(t.nbytes() == a.bytes.size(), "host array size does not match its shape");
  if (!a.bytes.empty()) std::memcpy(t.raw(), a.bytes.data(), a.bytes.size());
  return t;
}

HostArray to_host_array(const Tensor& t) {
  KASMINA_CHECK(t.defined(), "undefined tensor");
  const Tensor host = t.device().is_cpu() ? t : t.to(Device::cpu());
  HostArray a;
  a.dtype = host.dtype();
  a.shape = host.shape();
  a.bytes.resize(host.nbytes());
  if (!a.bytes.empty()) std::memcpy(a.bytes.data(), host.raw(), a.bytes.size());
  return a;
}

}  // namespace kasmina::io

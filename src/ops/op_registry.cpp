// The op registry's storage (every KASMINA_OP line registers its op here at static
// initialisation) and the names of the op enums. The routing itself is inline in the KASMINA_OP
// lines of the op headers.
#include <cstring>

#include "core/enum_table.hpp"
#include "ops/ops.hpp"

namespace kasmina::ops {

namespace {
std::vector<OpDescriptor>& registry() {
  static std::vector<OpDescriptor> ops;
  return ops;
}
}  // namespace

OpRegistration::OpRegistration(const OpDescriptor& d) {
  if (find_op(d.name) == nullptr) registry().push_back(d);
}

const std::vector<OpDescriptor>& registered_ops() {
  return registry();
}

const OpDescriptor* find_op(const char* name) {
  for (const OpDescriptor& d : registry()) {
    if (std::strcmp(d.name, name) == 0) return &d;
  }
  return nullptr;
}

constexpr EnumTable<Activation, 3> kActivationNames{{
    {"none", Activation::none},
    {"relu", Activation::relu},
    {"gelu", Activation::gelu},
}};

const char* activation_name(Activation a) {
  return enum_name(kActivationNames, a);
}

}  // namespace kasmina::ops

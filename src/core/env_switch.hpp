#pragma once

namespace kasmina {

// An on/off switch of the environment: "1" on, "0" off, unset or empty `fallback`; any other
// value is refused with a UserError that names the variable and the allowed values.
bool env_switch(const char* name, bool fallback);

}  // namespace kasmina

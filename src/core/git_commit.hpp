// The commit the binary was built from (short hash, "unknown" outside a git checkout). Taken at
// build time, not at configure time, so an incremental build reports the commit it compiled.
#pragma once

namespace kasmina {

const char* git_commit();

}  // namespace kasmina

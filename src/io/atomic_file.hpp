// Writing a user-named output file (`kasmina export OUT`, `kasmina eval --json FILE`) so that it
// is never seen half-written: the bytes go to a temporary file beside it, which is flushed to
// disk and renamed over `path`; the directory is synced after the rename.
#pragma once
#include <string>

namespace kasmina::io {

// UserError "PATH: cannot write: <reason>" when the temporary file cannot be created (no such
// directory, no permission); InternalError "PATH: <step> failed: <reason>" when writing, syncing
// or renaming fails (a full disk). On any failure the temporary file is removed and `path` is
// left as it was.
void write_file_atomically(const std::string& path, const std::string& bytes);

}  // namespace kasmina::io

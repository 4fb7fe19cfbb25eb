// docs/ENVIRONMENT.md names exactly the KASMINA_* environment variables the sources read: every
// "KASMINA_..." string literal under src/ and bench/ (the names getenv, env_switch and
// ProcessSwitch are given) has a row in one of its tables, and every row names one of them. A new
// switch without a row, or a row left behind by a removed one, fails here.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <regex>
#include <set>
#include <string>

namespace kasmina {
namespace {

namespace fs = std::filesystem;

std::string read_file(const fs::path& p) {
  std::ifstream in(p);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// The names of the table rows: lines that start with "| `KASMINA_".
std::set<std::string> documented(const std::string& markdown) {
  std::set<std::string> out;
  const std::regex row(R"(^\| `(KASMINA_[A-Z0-9_]+)`)", std::regex::multiline);
  for (std::sregex_iterator it(markdown.begin(), markdown.end(), row), end; it != end; ++it)
    out.insert((*it)[1].str());
  return out;
}

// The "KASMINA_..." string literals of the C++ and CUDA files below `dir`.
void read_by_sources(const fs::path& dir, std::set<std::string>& out) {
  const std::regex literal("\"(KASMINA_[A-Z0-9_]+)\"");
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    const std::string ext = e.path().extension().string();
    if (!e.is_regular_file() || (ext != ".cpp" && ext != ".hpp" && ext != ".cu" && ext != ".cuh"))
      continue;
    const std::string text = read_file(e.path());
    for (std::sregex_iterator it(text.begin(), text.end(), literal), end; it != end; ++it)
      out.insert((*it)[1].str());
  }
}

TEST(EnvironmentDoc, NamesExactlyTheVariablesTheSourcesRead) {
  const char* root = std::getenv("KASMINA_SOURCE_ROOT");
  ASSERT_NE(root, nullptr) << "KASMINA_SOURCE_ROOT is not set (run through meson test)";
  const fs::path src(root);
  const std::string doc = read_file(src / "docs" / "ENVIRONMENT.md");
  ASSERT_FALSE(doc.empty()) << "docs/ENVIRONMENT.md is missing or empty";
  const std::set<std::string> rows = documented(doc);
  std::set<std::string> read;
  read_by_sources(src / "src", read);
  read_by_sources(src / "bench", read);
  // The sources read more than a handful (a scan that found nothing would pass vacuously).
  EXPECT_GE(read.size(), 25u);
  for (const std::string& name : read)
    EXPECT_TRUE(rows.count(name)) << name << " is read by the sources but has no row in "
                                  << "docs/ENVIRONMENT.md";
  for (const std::string& name : rows)
    EXPECT_TRUE(read.count(name)) << name << " has a row in docs/ENVIRONMENT.md but no source "
                                  << "reads it";
}

}  // namespace
}  // namespace kasmina

// env_switch: "1" on, "0" off, unset or empty the fallback, anything else a user error that
// names the variable.
#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

#include "core/env_switch.hpp"
#include "core/error.hpp"

namespace kasmina {
namespace {

constexpr const char* kName = "KASMINA_TEST_ENV_SWITCH";

TEST(EnvSwitch, ReadsOneAndZeroAndFallsBackWhenUnsetOrEmpty) {
  unsetenv(kName);
  EXPECT_TRUE(env_switch(kName, true));
  EXPECT_FALSE(env_switch(kName, false));
  setenv(kName, "", 1);
  EXPECT_TRUE(env_switch(kName, true));
  EXPECT_FALSE(env_switch(kName, false));
  setenv(kName, "1", 1);
  EXPECT_TRUE(env_switch(kName, false));
  setenv(kName, "0", 1);
  EXPECT_FALSE(env_switch(kName, true));
  unsetenv(kName);
}

TEST(EnvSwitch, RefusesOtherValuesNamingTheVariable) {
  for (const char* bad : {"yes", "true", "2", " 1", "on"}) {
    setenv(kName, bad, 1);
    try {
      env_switch(kName, true);
      ADD_FAILURE() << "'" << bad << "' was accepted";
    } catch (const UserError& e) {
      const std::string what = e.what();
      EXPECT_NE(what.find(kName), std::string::npos) << what;
      EXPECT_NE(what.find(std::string("'") + bad + "'"), std::string::npos) << what;
      EXPECT_NE(what.find("allowed: 0, 1"), std::string::npos) << what;
    }
  }
  unsetenv(kName);
}

}  // namespace
}  // namespace kasmina

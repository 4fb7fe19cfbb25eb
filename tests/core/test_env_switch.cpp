// env_switch: "1" on, "0" off, unset or empty the fallback, anything else a user error that
// names the variable. ProcessSwitch and ScopedSwitch: the process-wide settings made from it.
#include <gtest/gtest.h>

#include <algorithm>
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

constexpr const char* kProcessName = "KASMINA_TEST_PROCESS_SWITCH";
ProcessSwitch test_switch(kProcessName, false);
bool test_switch_on() {
  return test_switch.on();
}
void set_test_switch(bool on) {
  test_switch.set(on);
}

// Read from the environment once, when first asked; set() overrides it; a scope puts back the
// value it found.
TEST(ProcessSwitch, ReadsTheEnvironmentOnceThenKeepsWhatWasSet) {
  setenv(kProcessName, "1", 1);
  EXPECT_TRUE(test_switch_on());
  setenv(kProcessName, "0", 1);
  EXPECT_TRUE(test_switch_on()) << "read again after the first time";
  set_test_switch(false);
  EXPECT_FALSE(test_switch_on());
  {
    const ScopedSwitch on(test_switch_on, set_test_switch, true);
    EXPECT_TRUE(test_switch_on());
    {
      const ScopedSwitch off(test_switch_on, set_test_switch, false);
      EXPECT_FALSE(test_switch_on());
    }
    EXPECT_TRUE(test_switch_on());
  }
  EXPECT_FALSE(test_switch_on());
  unsetenv(kProcessName);
}

TEST(ProcessSwitch, RefusesABadValueWhenFirstAsked) {
  ProcessSwitch bad("KASMINA_TEST_PROCESS_SWITCH_BAD", true);
  setenv("KASMINA_TEST_PROCESS_SWITCH_BAD", "yes", 1);
  EXPECT_THROW(bad.on(), UserError);
  bad.set(false);
  EXPECT_FALSE(bad.on()) << "a set value is not read from the environment";
  unsetenv("KASMINA_TEST_PROCESS_SWITCH_BAD");
}

TEST(KasminaEnvironment, ListsTheKasminaVariablesSortedByName) {
  setenv("KASMINA_TEST_ENV_B", "two", 1);
  setenv("KASMINA_TEST_ENV_A", "1", 1);
  setenv("NOT_KASMINA_TEST_ENV", "3", 1);
  const auto env = kasmina_environment();
  for (size_t i = 0; i < env.size(); ++i) {
    EXPECT_EQ(env[i].first.rfind("KASMINA_", 0), 0u) << env[i].first;
    if (i > 0) {
      EXPECT_LT(env[i - 1].first, env[i].first);
    }
  }
  const auto a = std::find(env.begin(), env.end(),
                           std::pair<std::string, std::string>{"KASMINA_TEST_ENV_A", "1"});
  const auto b = std::find(env.begin(), env.end(),
                           std::pair<std::string, std::string>{"KASMINA_TEST_ENV_B", "two"});
  ASSERT_NE(a, env.end());
  ASSERT_NE(b, env.end());
  EXPECT_LT(a, b);
  // The one-line form: the same pairs as NAME=value, in the same order, one space apart.
  const std::string line = kasmina_environment_line();
  EXPECT_NE(line.find("KASMINA_TEST_ENV_A=1 KASMINA_TEST_ENV_B=two"), std::string::npos) << line;
  EXPECT_EQ(line.find("NOT_KASMINA"), std::string::npos) << line;
  EXPECT_NE(line.front(), ' ');
  EXPECT_NE(line.back(), ' ');
  unsetenv("KASMINA_TEST_ENV_A");
  unsetenv("KASMINA_TEST_ENV_B");
  unsetenv("NOT_KASMINA_TEST_ENV");
  const auto after = kasmina_environment();
  EXPECT_EQ(std::count_if(after.begin(), after.end(),
                          [](const auto& e) { return e.first.rfind("KASMINA_TEST_ENV", 0) == 0; }),
            0);
}

}  // namespace
}  // namespace kasmina

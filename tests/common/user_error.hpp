// Test helpers shared by the test areas: the message of a kasmina::UserError a callable must
// throw (empty, with a test failure, when it throws nothing or something else), and
// EXPECT_CONTAINS.
#pragma once
#include <gtest/gtest.h>

#include <string>

#include "core/error.hpp"

namespace kasmina::testing {

template <class F>
std::string user_error_message(F&& f) {
  try {
    f();
  } catch (const UserError& e) {
    return e.what();
  } catch (const std::exception& e) {
    ADD_FAILURE() << "expected a UserError, got another exception: " << e.what();
    return {};
  }
  ADD_FAILURE() << "expected a UserError, nothing was thrown";
  return {};
}

}  // namespace kasmina::testing

// EXPECT_CONTAINS(text, part): `part` occurs in `text` (both printed on failure).
#define EXPECT_CONTAINS(text, part)                                                       \
  do {                                                                                    \
    const std::string kasmina_text_ = (text), kasmina_part_ = (part);                     \
    EXPECT_NE(kasmina_text_.find(kasmina_part_), std::string::npos)                       \
        << "expected to find \"" << kasmina_part_ << "\" in \"" << kasmina_text_ << "\""; \
  } while (0)

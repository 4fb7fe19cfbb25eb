// Runs a callable that must throw kasmina::UserError and returns the message (empty, with a
// test failure, when it does not throw one).
#pragma once
#include <gtest/gtest.h>

#include <string>

#include "core/error.hpp"

namespace kasmina::datatest {

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

}  // namespace kasmina::datatest

// EXPECT_CONTAINS(text, part): `part` occurs in `text` (both printed on failure).
#define EXPECT_CONTAINS(text, part)                                                       \
  do {                                                                                    \
    const std::string kasmina_text_ = (text), kasmina_part_ = (part);                     \
    EXPECT_NE(kasmina_text_.find(kasmina_part_), std::string::npos)                       \
        << "expected to find \"" << kasmina_part_ << "\" in \"" << kasmina_text_ << "\""; \
  } while (0)

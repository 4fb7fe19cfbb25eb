// Learning-rate schedules: constant, warm-up boundaries, cosine and linear decay, clamping.
#include <gtest/gtest.h>

#include <cmath>

#include "core/lr_schedule.hpp"

namespace kasmina {
namespace {

LrSchedule schedule(LrScheduleType type, int64_t warmup, int64_t total) {
  LrSchedule s;
  s.type = type;
  s.base_lr = 0.1f;
  s.min_lr = 0.01f;
  s.warmup_steps = warmup;
  s.total_steps = total;
  return s;
}

TEST(LrSchedule, Constant) {
  const LrSchedule s = schedule(LrScheduleType::constant, 0, 100);
  EXPECT_EQ(lr_at(s, 0), 0.1f);
  EXPECT_EQ(lr_at(s, 50), 0.1f);
  EXPECT_EQ(lr_at(s, 1000), 0.1f);
}

TEST(LrSchedule, WarmupBoundaries) {
  for (const LrScheduleType type :
       {LrScheduleType::constant, LrScheduleType::cosine, LrScheduleType::linear}) {
    const LrSchedule s = schedule(type, 10, 110);
    EXPECT_FLOAT_EQ(lr_at(s, 0), 0.1f / 10);  // (0 + 1) / 10 of the base
    EXPECT_FLOAT_EQ(lr_at(s, 4), 0.1f * 5 / 10);
    EXPECT_FLOAT_EQ(lr_at(s, 9), 0.1f);   // last warm-up step reaches the base
    EXPECT_FLOAT_EQ(lr_at(s, 10), 0.1f);  // decay starts at progress 0
  }
}

TEST(LrSchedule, CosineStartMiddleEnd) {
  const LrSchedule s = schedule(LrScheduleType::cosine, 10, 110);
  EXPECT_FLOAT_EQ(lr_at(s, 10), 0.1f);
  EXPECT_NEAR(lr_at(s, 60), (0.1 + 0.01) / 2, 1e-8);  // progress 1/2
  const double quarter = 0.01 + 0.09 * 0.5 * (1 + std::cos(M_PI * 0.25));
  EXPECT_NEAR(lr_at(s, 35), quarter, 1e-8);
  EXPECT_FLOAT_EQ(lr_at(s, 110), 0.01f);
}

TEST(LrSchedule, LinearEnd) {
  const LrSchedule s = schedule(LrScheduleType::linear, 0, 100);
  EXPECT_FLOAT_EQ(lr_at(s, 0), 0.1f);
  EXPECT_NEAR(lr_at(s, 25), 0.1 - 0.09 * 0.25, 1e-8);
  EXPECT_FLOAT_EQ(lr_at(s, 100), 0.01f);
}

TEST(LrSchedule, ClampsBeyondTotal) {
  EXPECT_FLOAT_EQ(lr_at(schedule(LrScheduleType::cosine, 10, 110), 500), 0.01f);
  EXPECT_FLOAT_EQ(lr_at(schedule(LrScheduleType::linear, 10, 110), 500), 0.01f);
  EXPECT_FLOAT_EQ(lr_at(schedule(LrScheduleType::constant, 10, 110), 500), 0.1f);
  // A run no longer than its warm-up: the span is clamped to 1 step.
  EXPECT_FLOAT_EQ(lr_at(schedule(LrScheduleType::cosine, 5, 5), 5), 0.1f);
  EXPECT_FLOAT_EQ(lr_at(schedule(LrScheduleType::cosine, 5, 5), 6), 0.01f);
}

}  // namespace
}  // namespace kasmina

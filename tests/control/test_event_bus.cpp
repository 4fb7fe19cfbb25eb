// The event bus: ordered delivery per topic, the full-queue policies, and the recorder.
#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "control/event_bus.hpp"

namespace kasmina::control {
namespace {

HealthReport report(int32_t layer) {
  HealthReport h;
  h.layer = layer;
  return h;
}

Command germinate(int32_t layer, int32_t seed) {
  Command c;
  c.kind = CommandKind::germinate;
  c.layer = layer;
  c.seed = seed;
  return c;
}

struct Delivered {
  uint64_t sequence;
  Topic topic;
  std::string kind;
  std::string text;
  int64_t step;
};

// Subscribes a recorder to every topic.
std::vector<Delivered>* record_all(EventBus& bus, std::vector<Delivered>& out) {
  for (int32_t t = 0; t < kTopicCount; ++t) {
    bus.subscribe(static_cast<Topic>(t), [&out](const Message& m) {
      out.push_back(
          {m.sequence, m.topic, payload_kind(m.payload), payload_text(m.payload), m.step});
    });
  }
  return &out;
}

TEST(EventBus, DeliversInPublishOrderOnlyAtDispatch) {
  EventBus bus;
  std::vector<Delivered> got;
  record_all(bus, got);
  bus.publish(1, report(0));
  bus.publish(1, germinate(0, 3));
  bus.publish(2, report(1));
  bus.publish(2, ValidationMeasurement{0, 0.5, 4});
  EXPECT_TRUE(got.empty());
  EXPECT_EQ(bus.queued(Topic::telemetry), 2u);
  EXPECT_EQ(bus.dispatch(), 4u);
  ASSERT_EQ(got.size(), 4u);
  EXPECT_EQ(got[0].topic, Topic::telemetry);
  EXPECT_EQ(got[0].text, "layer 0 seeds 0");
  EXPECT_EQ(got[1].topic, Topic::commands);
  EXPECT_EQ(got[1].kind, "germinate");
  EXPECT_EQ(got[2].text, "layer 1 seeds 0");
  EXPECT_EQ(got[3].topic, Topic::metrics);
  EXPECT_EQ(got[3].step, 2);
  for (size_t i = 1; i < got.size(); ++i) EXPECT_LT(got[i - 1].sequence, got[i].sequence);
  EXPECT_EQ(bus.dispatch(), 0u);
}

TEST(EventBus, MessagesPublishedByHandlersAreDeliveredInTheSameDispatchAfterQueuedOnes) {
  EventBus bus;
  std::vector<std::string> order;
  bus.subscribe(Topic::telemetry, [&](const Message& m) {
    order.push_back("health " + std::to_string(std::get<HealthReport>(m.payload).layer));
    bus.publish(m.step, germinate(std::get<HealthReport>(m.payload).layer, 0));
  });
  bus.subscribe(Topic::commands, [&](const Message& m) {
    order.push_back("command " + std::to_string(std::get<Command>(m.payload).layer));
  });
  bus.publish(0, report(0));
  bus.publish(0, report(1));
  EXPECT_EQ(bus.dispatch(), 4u);
  EXPECT_EQ(order, (std::vector<std::string>{"health 0", "health 1", "command 0", "command 1"}));
}

TEST(EventBus, FullTelemetryQueueDropsTheOldestAndCountsIt) {
  BusLimits lim;
  lim.topics[static_cast<size_t>(Topic::telemetry)] = {3, FullPolicy::drop_oldest};
  EventBus bus(lim);
  std::vector<Delivered> got;
  record_all(bus, got);
  for (int32_t i = 0; i < 3; ++i) EXPECT_EQ(bus.publish(i, report(i)), PublishResult::queued);
  EXPECT_EQ(bus.publish(3, report(3)), PublishResult::queued_dropped_oldest);
  EXPECT_EQ(bus.publish(4, report(4)), PublishResult::queued_dropped_oldest);
  bus.dispatch();
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[0].text, "layer 2 seeds 0");
  EXPECT_EQ(got[2].text, "layer 4 seeds 0");
  const TopicStats& s = bus.stats(Topic::telemetry);
  EXPECT_EQ(s.published, 5);
  EXPECT_EQ(s.dropped, 2);
  EXPECT_EQ(s.delivered, 3);
  EXPECT_EQ(s.refused, 0);
}

TEST(EventBus, FullCommandQueueRefusesAndRaisesAnAlert) {
  BusLimits lim;
  lim.topics[static_cast<size_t>(Topic::commands)] = {2, FullPolicy::refuse};
  EventBus bus(lim);
  std::vector<Delivered> got;
  record_all(bus, got);
  EXPECT_EQ(bus.publish(0, germinate(0, 0)), PublishResult::queued);
  EXPECT_EQ(bus.publish(0, germinate(0, 1)), PublishResult::queued);
  EXPECT_EQ(bus.publish(0, germinate(0, 2)), PublishResult::refused);
  EXPECT_EQ(bus.stats(Topic::commands).refused, 1);
  EXPECT_EQ(bus.queued(Topic::alerts), 1u);
  bus.dispatch();
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[0].text, "layer 0 seed 0 blueprint residual_mlp");
  EXPECT_EQ(got[1].text, "layer 0 seed 1 blueprint residual_mlp");
  EXPECT_EQ(got[2].kind, "alert:queue_refused");
  EXPECT_NE(got[2].text.find("topic commands full, refused: germinate layer 0 seed 2"),
            std::string::npos)
      << got[2].text;
  EXPECT_EQ(bus.stats(Topic::commands).delivered, 2);
}

TEST(EventBus, RecordedLogEqualsDeliveredMessagesOnRandomTraffic) {
  for (uint64_t seed : {1u, 2u, 3u}) {
    std::mt19937_64 rng(seed);
    BusLimits lim;
    std::uniform_int_distribution<int> cap(1, 6);
    for (size_t t = 0; t < lim.topics.size(); ++t) {
      lim.topics[t].capacity = static_cast<size_t>(cap(rng));
      lim.topics[t].when_full = (rng() % 2 != 0u) ? FullPolicy::refuse : FullPolicy::drop_oldest;
    }
    lim.topics[static_cast<size_t>(Topic::alerts)] = {100000, FullPolicy::drop_oldest};
    EventBus bus(lim);
    std::vector<Delivered> got;
    record_all(bus, got);
    std::vector<std::vector<int32_t>> delivered_ids(kTopicCount);
    bus.subscribe(Topic::telemetry, [&](const Message& m) {
      delivered_ids[0].push_back(std::get<HealthReport>(m.payload).layer);
    });
    bus.subscribe(Topic::commands, [&](const Message& m) {
      delivered_ids[1].push_back(std::get<Command>(m.payload).seed);
    });
    std::vector<int32_t> next(2, 0);
    for (int64_t step = 0; step < 200; ++step) {
      const int n = static_cast<int>(rng() % 5);
      for (int i = 0; i < n; ++i) {
        if (rng() % 2 == 0) {
          bus.publish(step, report(next[0]++));
        } else {
          bus.publish(step, germinate(0, next[1]++));
        }
      }
      if (rng() % 3 == 0) bus.dispatch();
    }
    bus.dispatch();
    const std::vector<MessageRecord>& log = bus.log();
    ASSERT_EQ(log.size(), got.size());
    for (size_t i = 0; i < log.size(); ++i) {
      EXPECT_EQ(log[i].sequence, got[i].sequence);
      EXPECT_EQ(log[i].topic, topic_name(got[i].topic));
      EXPECT_EQ(log[i].kind, got[i].kind);
      EXPECT_EQ(log[i].text, got[i].text);
      EXPECT_EQ(log[i].step, got[i].step);
      if (i > 0) {
        EXPECT_LT(log[i - 1].sequence, log[i].sequence);
      }
    }
    // Per topic: strictly increasing ids (publish order), and the counts add up.
    for (size_t t = 0; t < 2; ++t) {
      for (size_t i = 1; i < delivered_ids[t].size(); ++i)
        EXPECT_LT(delivered_ids[t][i - 1], delivered_ids[t][i]);
      const TopicStats& s = bus.stats(static_cast<Topic>(t));
      EXPECT_EQ(s.published, next[t]);
      EXPECT_EQ(s.delivered + s.dropped + s.refused, s.published);
      EXPECT_EQ(s.delivered, static_cast<int64_t>(delivered_ids[t].size()));
    }
    const int64_t refused =
        bus.stats(Topic::telemetry).refused + bus.stats(Topic::commands).refused;
    EXPECT_EQ(bus.stats(Topic::alerts).published, refused);
    std::vector<MessageRecord> taken = bus.take_log();
    EXPECT_EQ(taken.size(), got.size());
    EXPECT_TRUE(bus.log().empty());
  }
}

// A kernel event (an IR blueprint's kernel, ops/morph/kernel_record.hpp) is a telemetry record:
// recorded with every field, and a controller's telemetry handler need not read it.
TEST(EventBus, KernelEventIsRecordedWithEveryField) {
  EventBus bus;
  int seen = 0;
  bus.subscribe(Topic::telemetry, [&](const Message& m) {
    if (std::get_if<KernelEvent>(&m.payload)) ++seen;
  });
  KernelEvent k{1,      "gated_mlp",       13,
                "ab12", "interpreter",     2.5,
                40.25,  "forward b128 db", "NVRTC could not be loaded"};
  bus.publish(7, k);
  k.tune_ms = -1.0;
  k.launch.clear();
  k.detail.clear();
  k.level = "cpu-interpreter";
  bus.publish(7, k);
  bus.dispatch();
  EXPECT_EQ(seen, 2);
  const std::vector<MessageRecord> log = bus.take_log();
  ASSERT_EQ(log.size(), 2u);
  EXPECT_EQ(log[0].step, 7);
  EXPECT_EQ(log[0].topic, "telemetry");
  EXPECT_EQ(log[0].kind, "kernel");
  EXPECT_EQ(log[0].text,
            "layer 1 blueprint gated_mlp C 13 key ab12 level interpreter ms 2.500 tune_ms 40.250 "
            "launch forward b128 db (NVRTC could not be loaded)");
  EXPECT_EQ(log[1].text,
            "layer 1 blueprint gated_mlp C 13 key ab12 level cpu-interpreter ms 2.500");
}

}  // namespace
}  // namespace kasmina::control

// The event bus: typed messages (messages.hpp) on five topics, delivered to the topic's
// subscribers in publish order, single-threaded and deterministic. publish() only enqueues;
// delivery happens in dispatch(), which the trainer calls at step boundaries. Messages that
// handlers publish during dispatch() are delivered in the same call, after those already queued.
//
// Every topic has a bounded queue. What happens when it is full is the topic's policy:
//   - drop_oldest (telemetry, lifecycle, metrics, alerts by default): the oldest undelivered
//     message of that topic is discarded and counted in TopicStats::dropped; the new one is
//     queued. A health report is superseded by the next one anyway.
//   - refuse (commands by default): the new message is NOT queued; publish() returns
//     PublishResult::refused, TopicStats::refused counts it and an Alert (queue_refused) is
//     published on the alerts topic, so a refusal is never silent.
//
// Recorder: every delivered message is appended to log() (step, sequence, topic, kind, text),
// in delivery order, before its handlers run; the trainer writes the log to telemetry or prints
// it. A message with no subscriber is still delivered (and recorded).
#pragma once
#include <array>
#include <cstdint>
#include <deque>
#include <functional>
#include <string>
#include <vector>

#include "control/messages.hpp"

namespace kasmina::control {

enum class FullPolicy : int32_t { drop_oldest, refuse };

struct TopicLimits {
  size_t capacity = 1024;
  FullPolicy when_full = FullPolicy::drop_oldest;
};

struct BusLimits {
  std::array<TopicLimits, kTopicCount> topics = {{
      {256, FullPolicy::drop_oldest},   // telemetry
      {1024, FullPolicy::refuse},       // commands
      {4096, FullPolicy::drop_oldest},  // lifecycle
      {256, FullPolicy::drop_oldest},   // metrics
      {1024, FullPolicy::drop_oldest},  // alerts
  }};
  // dispatch() throws InternalError past this many deliveries in one call (a handler loop).
  size_t max_deliveries_per_dispatch = 1000000;
};

enum class PublishResult : int32_t { queued, queued_dropped_oldest, refused };

struct TopicStats {
  int64_t published = 0;  // publish() calls, including refused ones
  int64_t delivered = 0;
  int64_t dropped = 0;  // discarded by drop_oldest
  int64_t refused = 0;  // refused by the refuse policy
};

struct MessageRecord {
  int64_t step = 0;
  uint64_t sequence = 0;
  std::string topic;
  std::string kind;
  std::string text;
  bool operator==(const MessageRecord&) const = default;
};

class EventBus {
 public:
  using Handler = std::function<void(const Message&)>;

  explicit EventBus(BusLimits limits = {});

  // Queues `payload` on its topic (topic_of) as published at training step `step`.
  PublishResult publish(int64_t step, Payload payload);
  // Handlers of a topic run in subscription order for each message.
  void subscribe(Topic topic, Handler handler);
  // Delivers every queued message in global publish order (hence in order within each topic),
  // including those published by handlers meanwhile; returns how many were delivered.
  size_t dispatch();

  size_t queued(Topic t) const { return queues_[index(t)].size(); }
  const TopicStats& stats(Topic t) const { return stats_[index(t)]; }
  const std::vector<MessageRecord>& log() const { return log_; }
  // Moves the records out (the trainer writes them and frees the memory).
  std::vector<MessageRecord> take_log();
  const BusLimits& limits() const { return limits_; }

 private:
  static size_t index(Topic t) { return static_cast<size_t>(t); }

  BusLimits limits_;
  uint64_t next_sequence_ = 0;
  std::array<std::deque<Message>, kTopicCount> queues_;
  std::array<std::vector<Handler>, kTopicCount> handlers_;
  std::array<TopicStats, kTopicCount> stats_{};
  std::vector<MessageRecord> log_;
};

}  // namespace kasmina::control

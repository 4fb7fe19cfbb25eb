#include "control/event_bus.hpp"

#include "core/error.hpp"

namespace kasmina::control {

EventBus::EventBus(BusLimits limits) : limits_(limits) {
  for (const TopicLimits& t : limits_.topics) {
    KASMINA_CHECK(t.capacity > 0, "EventBus: a topic capacity must be positive");
  }
}

PublishResult EventBus::publish(int64_t step, Payload payload) {
  const Topic topic = topic_of(payload);
  const size_t i = index(topic);
  const TopicLimits& lim = limits_.topics[i];
  ++stats_[i].published;
  PublishResult result = PublishResult::queued;
  if (queues_[i].size() >= lim.capacity) {
    if (lim.when_full == FullPolicy::refuse) {
      ++stats_[i].refused;
      const std::string what = payload_kind(payload) + " " + payload_text(payload);
      // An alert about a refused alert would recurse; alerts use drop_oldest by default.
      if (topic != Topic::alerts) {
        Alert a;
        a.kind = AlertKind::queue_refused;
        a.value = static_cast<double>(lim.capacity);
        a.detail = std::string("topic ") + topic_name(topic) + " full, refused: " + what;
        publish(step, std::move(a));
      }
      return PublishResult::refused;
    }
    queues_[i].pop_front();
    ++stats_[i].dropped;
    result = PublishResult::queued_dropped_oldest;
  }
  queues_[i].push_back(Message{step, next_sequence_++, topic, std::move(payload)});
  return result;
}

void EventBus::subscribe(Topic topic, Handler handler) {
  KASMINA_CHECK(static_cast<bool>(handler), "EventBus::subscribe: empty handler");
  handlers_[index(topic)].push_back(std::move(handler));
}

size_t EventBus::dispatch() {
  size_t delivered = 0;
  for (;;) {
    // The queue whose head was published first.
    size_t best = kTopicCount;
    for (size_t i = 0; i < queues_.size(); ++i) {
      if (queues_[i].empty()) continue;
      if (best == kTopicCount || queues_[i].front().sequence < queues_[best].front().sequence)
        best = i;
    }
    if (best == kTopicCount) return delivered;
    KASMINA_CHECK(delivered < limits_.max_deliveries_per_dispatch,
                  "EventBus::dispatch: more than max_deliveries_per_dispatch messages in one "
                  "call (handlers publishing in a loop?)");
    const Message msg = std::move(queues_[best].front());
    queues_[best].pop_front();
    ++stats_[best].delivered;
    ++delivered;
    log_.push_back(MessageRecord{msg.step, msg.sequence, topic_name(msg.topic),
                                 payload_kind(msg.payload), payload_text(msg.payload)});
    // Handlers may subscribe or publish while running: iterate by index over a stable count.
    const size_t n = handlers_[best].size();
    for (size_t h = 0; h < n; ++h) handlers_[best][h](msg);
  }
}

std::vector<MessageRecord> EventBus::take_log() {
  std::vector<MessageRecord> out;
  out.swap(log_);
  return out;
}

}  // namespace kasmina::control

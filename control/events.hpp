// The event log: every fault decision that matters, from the data plane and
// from API changes, kept in a bounded ring (readable with GET /events?since=ID)
// and optionally written as JSON lines to a file or stdout.
#pragma once

#include <cstdint>
#include <deque>
#include <fstream>
#include <mutex>
#include <string>
#include <vector>

#include "proxy/events.hpp"

namespace brownout::control {

class EventLog final : public proxy::EventSink {
 public:
  explicit EventLog(std::size_t capacity = 10000) : capacity_(capacity) {}

  // "" for none, "-" for stdout, else a file (appended). Returns an error text.
  std::string open(const std::string& path);

  void emit(proxy::Event event) override;

  struct Stored {
    std::uint64_t id;
    proxy::Event event;
  };
  // Events with id > since, oldest first, at most `limit`.
  std::vector<Stored> since(std::uint64_t since, std::size_t limit = 1000) const;
  std::uint64_t last_id() const;

  static std::string to_json(const Stored& e);

 private:
  std::size_t capacity_;
  mutable std::mutex mutex_;
  std::deque<Stored> ring_;
  std::uint64_t next_id_ = 1;
  std::ofstream file_;
  bool to_stdout_ = false;
};

}  // namespace brownout::control

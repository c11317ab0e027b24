// Unit tests for proxy/ring_buffer.cpp: offsets, wrap-around, growth, the
// capacity bound, release and trim.
#include "proxy/ring_buffer.hpp"

#include <doctest/doctest.h>

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

using brownout::proxy::RingBuffer;

namespace {

constexpr std::size_t k64K = 64 * 1024;

// The byte that belongs at a stream offset: a pattern with no short period.
char byte_at(std::uint64_t offset) {
  return static_cast<char>((offset * 131u + (offset >> 8) * 7u + 3u) & 0xFFu);
}

// Appends `n` pattern bytes at head, asking for at most `chunk` at a time.
// Returns how many were written (fewer when the buffer filled up).
std::size_t fill(RingBuffer& rb, std::size_t n, std::size_t chunk = 16 * 1024,
                 bool may_grow = true) {
  std::size_t done = 0;
  while (done < n) {
    auto room = rb.writable(std::min(chunk, n - done), may_grow);
    if (room.empty()) break;
    for (std::size_t i = 0; i < room.size(); ++i) room[i] = byte_at(rb.head() + i);
    rb.commit(room.size());
    done += room.size();
  }
  return done;
}

// Returns true when [offset, offset + size) reads back as the pattern.
bool holds(const RingBuffer& rb, std::uint64_t offset, std::size_t size,
           int* spans_used = nullptr) {
  std::span<const char> spans[2];
  const int k = rb.readable(offset, size, spans);
  if (spans_used) *spans_used = k;
  std::size_t total = 0;
  std::uint64_t off = offset;
  for (int s = 0; s < k; ++s) {
    for (char c : spans[s]) {
      if (c != byte_at(off)) return false;
      ++off;
    }
    total += spans[s].size();
  }
  return total == size;
}

}  // namespace

TEST_CASE("ring_buffer: starts empty at its start offset, with no storage") {
  RingBuffer rb(1234, 1 << 20);
  CHECK(rb.head() == 1234);
  CHECK(rb.tail() == 1234);
  CHECK(rb.size() == 0);
  CHECK(rb.capacity() == 0);
  CHECK(rb.max_capacity() == (1u << 20));
  CHECK(rb.can_write(true));
  CHECK_FALSE(rb.can_write(false));  // no storage yet, and none may be allocated
}

TEST_CASE("ring_buffer: max capacity is a power of two of at least 64 KiB") {
  CHECK(RingBuffer(0, 1000).max_capacity() == k64K);
  CHECK(RingBuffer(0, 100000).max_capacity() == k64K);
  CHECK(RingBuffer(0, 131072).max_capacity() == 131072);
  CHECK(RingBuffer(0, 200000).max_capacity() == 131072);
}

TEST_CASE("ring_buffer: the first writable allocates 64 KiB and hands out what was asked") {
  RingBuffer rb(0, 1 << 20);
  auto room = rb.writable(1000, true);
  CHECK(rb.capacity() == k64K);
  CHECK(room.size() == 1000);
  CHECK(rb.size() == 0);                    // nothing committed yet
  CHECK(rb.writable(0, true).size() == 1);  // asking for 0 means 1
  CHECK(rb.can_write(false));
}

TEST_CASE("ring_buffer: without may_grow, no storage is allocated") {
  RingBuffer rb(0, 1 << 20);
  CHECK(rb.writable(1000, false).empty());
  CHECK(rb.capacity() == 0);
  CHECK(rb.size() == 0);
}

TEST_CASE("ring_buffer: write, commit and read back at the stream offsets") {
  RingBuffer rb(5000, 1 << 20);
  REQUIRE(fill(rb, 3000) == 3000);
  CHECK(rb.head() == 8000);
  CHECK(rb.tail() == 5000);
  CHECK(rb.size() == 3000);
  int k = 0;
  CHECK(holds(rb, 5000, 3000, &k));
  CHECK(k == 1);
  CHECK(holds(rb, 6000, 10));
  std::span<const char> spans[2];
  CHECK(rb.readable(6000, 0, spans) == 0);
}

TEST_CASE("ring_buffer: round-trips across the wrap-around") {
  RingBuffer rb(0, k64K);  // no growth: the ring must wrap
  REQUIRE(fill(rb, 60000) == 60000);
  rb.release_to(59000);  // one byte still held: the ring keeps its mapping
  CHECK(rb.size() == 1000);

  // At position 60000 only 5536 bytes are contiguous before the end.
  auto room = rb.writable(10000, true);
  CHECK(room.size() == k64K - 60000);
  REQUIRE(fill(rb, 10000) == 10000);
  CHECK(rb.capacity() == k64K);
  CHECK(rb.head() == 70000);

  int k = 0;
  CHECK(holds(rb, 60000, 10000, &k));
  CHECK(k == 2);
  std::span<const char> spans[2];
  REQUIRE(rb.readable(60000, 10000, spans) == 2);
  CHECK(spans[0].size() == k64K - 60000);
  CHECK(spans[1].size() == 10000 - (k64K - 60000));
  // Partial reads on either side of the seam.
  CHECK(holds(rb, 60000, k64K - 60000, &k));
  CHECK(k == 1);
  CHECK(holds(rb, k64K, 1000, &k));
  CHECK(k == 1);
}

TEST_CASE("ring_buffer: many laps around a fixed ring keep every byte at its offset") {
  RingBuffer rb(7, k64K);
  std::uint64_t checked = 7;
  for (int lap = 0; lap < 40; ++lap) {
    REQUIRE(fill(rb, 20000 + static_cast<std::size_t>(lap) * 37, 3000) ==
            20000 + static_cast<std::size_t>(lap) * 37);
    CHECK(holds(rb, checked, static_cast<std::size_t>(rb.head() - checked)));
    checked = rb.head() - 100;  // keep a little behind
    rb.release_to(checked);
    CHECK(rb.size() == 100);
  }
  CHECK(rb.capacity() <= k64K);
  CHECK(rb.head() > 10 * k64K);
}

TEST_CASE("ring_buffer: growth preserves bytes at their offsets, including wrapped ones") {
  RingBuffer rb(1000, 1 << 20);
  REQUIRE(fill(rb, 60000) == 60000);  // [1000, 61000)
  rb.release_to(51000);               // hold [51000, 61000)
  REQUIRE(fill(rb, 50000) == 50000);  // wraps: hold [51000, 111000)
  REQUIRE(rb.capacity() == k64K);
  int k = 0;
  CHECK(holds(rb, 51000, 60000, &k));
  CHECK(k == 2);

  // Fill the 64 KiB ring completely, then ask for more: it must grow.
  REQUIRE(fill(rb, k64K - rb.size()) == k64K - 60000);
  CHECK(rb.size() == k64K);
  CHECK(rb.can_write(true));  // the cap is 1 MiB
  // A write is in flight: the storage must not move, so there is no room.
  CHECK_FALSE(rb.can_write(false));
  CHECK(rb.writable(8192, false).empty());
  CHECK(rb.capacity() == k64K);
  auto room = rb.writable(8192, true);
  CHECK(rb.capacity() == 2 * k64K);
  CHECK(room.size() == 8192);
  CHECK(holds(rb, 51000, k64K));

  // Keep growing up to the cap; every held byte stays where its offset says.
  REQUIRE(fill(rb, (1 << 20) - k64K) == (1 << 20) - k64K);
  CHECK(rb.capacity() == (1u << 20));
  CHECK(rb.size() == (1u << 20));
  CHECK(holds(rb, 51000, 1 << 20));
}

TEST_CASE("ring_buffer: at max capacity there is no room, grow or not") {
  RingBuffer rb(0, k64K);
  CHECK(fill(rb, 2 * k64K) == k64K);  // stops at the cap
  CHECK(rb.size() == k64K);
  CHECK(rb.size() == rb.max_capacity());
  CHECK_FALSE(rb.can_write(true));
  CHECK_FALSE(rb.can_write(false));
  CHECK(rb.writable(1, true).empty());
  CHECK(rb.writable(1, false).empty());
  CHECK(rb.capacity() == k64K);

  rb.release_to(100);
  CHECK(rb.can_write(true));
  CHECK(rb.can_write(false));
  auto room = rb.writable(4096, true);
  CHECK(room.size() == 100);  // exactly the freed bytes, at the start of the ring
  CHECK(holds(rb, 100, k64K - 100));
}

TEST_CASE("ring_buffer: no room after growing to the cap") {
  RingBuffer rb(0, 256 * 1024);
  CHECK(fill(rb, 1 << 20) == 256 * 1024);
  CHECK_FALSE(rb.can_write(true));
  CHECK(rb.capacity() == 256 * 1024);
  CHECK(rb.writable(65536, true).empty());
  CHECK(holds(rb, 0, 256 * 1024));
}

TEST_CASE("ring_buffer: release_to moves the tail, clamped to [tail, head]") {
  RingBuffer rb(100, 1 << 20);
  REQUIRE(fill(rb, 1000) == 1000);  // [100, 1100)
  rb.release_to(600);
  CHECK(rb.tail() == 600);
  CHECK(rb.size() == 500);
  CHECK(holds(rb, 600, 500));
  rb.release_to(300);  // before the tail: no change
  CHECK(rb.tail() == 600);
  CHECK(rb.size() == 500);
  rb.release_to(5000);  // past the head: everything released
  CHECK(rb.tail() == 1100);
  CHECK(rb.head() == 1100);
  CHECK(rb.size() == 0);
}

TEST_CASE("ring_buffer: trim frees storage only when nothing is held") {
  RingBuffer rb(0, 1 << 20);
  REQUIRE(fill(rb, 5000) == 5000);
  rb.trim();
  CHECK(rb.capacity() == k64K);  // bytes held: kept
  CHECK(holds(rb, 0, 5000));

  rb.release_to(4999);
  rb.trim();
  CHECK(rb.capacity() == k64K);  // one byte still held
  CHECK(holds(rb, 4999, 1));

  rb.release_to(5000);
  rb.trim();
  CHECK(rb.capacity() == 0);
  CHECK(rb.head() == 5000);
  CHECK(rb.tail() == 5000);

  // Writing again allocates afresh and carries on at the same offsets.
  REQUIRE(fill(rb, 70000) == 70000);
  CHECK(rb.capacity() == 2 * k64K);
  CHECK(rb.head() == 75000);
  CHECK(holds(rb, 5000, 70000));
}

TEST_CASE("ring_buffer: trim of a buffer that never held storage is harmless") {
  RingBuffer rb(42, k64K);
  rb.trim();
  CHECK(rb.capacity() == 0);
  CHECK(rb.head() == 42);
  REQUIRE(fill(rb, 10) == 10);
  CHECK(holds(rb, 42, 10));
}

TEST_CASE("ring_buffer: without may_grow, a short run before the seam is handed out as is") {
  RingBuffer rb(0, 1 << 20);
  REQUIRE(fill(rb, 62000) == 62000);
  rb.release_to(61000);  // hold [61000, 62000)
  auto small = rb.writable(8192, false);
  CHECK(small.size() == k64K - 62000);  // only up to the end of the ring
  CHECK(rb.capacity() == k64K);
  // Writing that run and wrapping without growth keeps the bytes in place.
  REQUIRE(fill(rb, 10000, 8192, false) == 10000);
  CHECK(rb.capacity() == k64K);
  CHECK(holds(rb, 61000, 11000));
}

TEST_CASE("ring_buffer: without may_grow, only the free space of the current storage is offered") {
  RingBuffer rb(0, 1 << 20);
  REQUIRE(fill(rb, 60000) == 60000);
  CHECK(rb.can_write(false));
  CHECK(fill(rb, 20000, 16 * 1024, false) == k64K - 60000);
  CHECK(rb.size() == k64K);
  CHECK(rb.capacity() == k64K);
  CHECK_FALSE(rb.can_write(false));
  CHECK(holds(rb, 0, k64K));
}

TEST_CASE("ring_buffer: a drained ring offers its whole storage as one span again") {
  RingBuffer rb(0, 1 << 20);
  REQUIRE(fill(rb, 40 * 1024) == 40 * 1024);
  REQUIRE(rb.capacity() == k64K);
  rb.release_to(rb.head());
  // Without the rebase the span would end at the storage's end (24 KiB).
  auto room = rb.writable(k64K, false);
  CHECK(room.size() == k64K);
  for (std::size_t i = 0; i < room.size(); ++i) room[i] = byte_at(rb.head() + i);
  rb.commit(room.size());
  CHECK(holds(rb, 40 * 1024, k64K));
  // A partly drained ring keeps its mapping: held bytes stay where they are.
  rb.release_to(40 * 1024 + 1000);
  CHECK(holds(rb, 40 * 1024 + 1000, k64K - 1000));
}

TEST_CASE("ring_buffer: eager growth reaches the wanted size at once, keeping held bytes") {
  RingBuffer rb(7, 1 << 20);
  auto first = rb.writable(256 * 1024, true, true);
  CHECK(first.size() == 256 * 1024);
  CHECK(rb.capacity() == 256 * 1024);

  RingBuffer held(7, 1 << 20);
  REQUIRE(fill(held, 10000) == 10000);
  REQUIRE(held.capacity() == k64K);
  held.release_to(7 + 3000);
  auto room = held.writable(256 * 1024, true, true);
  CHECK(held.capacity() == 256 * 1024);
  CHECK(room.size() >= 128 * 1024);
  CHECK(holds(held, 7 + 3000, 7000));
  // Never past the bound, never while a write is in flight.
  RingBuffer small(0, 128 * 1024);
  REQUIRE(fill(small, 100) == 100);
  (void)small.writable(256 * 1024, false, true);
  CHECK(small.capacity() == k64K);
  (void)small.writable(256 * 1024, true, true);
  CHECK(small.capacity() == 128 * 1024);
}

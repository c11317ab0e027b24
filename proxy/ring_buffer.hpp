// A byte ring for the planned path of one direction. Bytes are named by their
// offset in the direction's stream, so plans refer to them without copying.
// Storage starts small, grows on demand up to a hard cap (the direction's
// bound on bytes in flight), and is freed while the direction is idle.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>

namespace brownout::proxy {

// The data plane's read buffers: blocks of kBlockSize bytes kept in a
// per-thread pool, so the block a link just gave back (still in the CPU's
// cache) is the next one taken. The fast path reads into them; a ring of
// exactly one block takes its storage from the pool too.
struct BlockPool {
  static constexpr std::size_t kBlockSize = 256 * 1024;
  static std::unique_ptr<char[]> acquire();
  static void release(std::unique_ptr<char[]> block);
};

class RingBuffer {
 public:
  RingBuffer(std::uint64_t start_offset, std::size_t max_capacity);
  ~RingBuffer();
  RingBuffer(const RingBuffer&) = delete;
  RingBuffer& operator=(const RingBuffer&) = delete;

  std::uint64_t head() const { return head_; }  // offset one past the last byte stored
  std::uint64_t tail() const { return tail_; }  // offset of the oldest byte still held
  std::size_t size() const { return static_cast<std::size_t>(head_ - tail_); }
  std::size_t capacity() const { return capacity_; }
  std::size_t max_capacity() const { return max_capacity_; }

  // Contiguous space to read into, growing the storage when `may_grow` (never
  // while a write from the current storage is in flight); empty when full.
  // `eager` (a bulk stream: the last read filled what it was offered) grows
  // the storage up to `want` at once, so bulk reads are as large as the fast
  // path's.
  std::span<char> writable(std::size_t want, bool may_grow, bool eager = false);
  // Whether writable() would offer any space; allocates nothing.
  bool can_write(bool may_grow) const {
    if (capacity_ == 0) return may_grow;
    return size() < capacity_ || (may_grow && capacity_ < max_capacity_);
  }
  void commit(std::size_t n) { head_ += n; }

  // Forgets every byte before `offset`.
  void release_to(std::uint64_t offset);

  // The bytes [offset, offset + size) as one or two spans; returns how many.
  int readable(std::uint64_t offset, std::size_t size, std::span<const char> (&out)[2]) const;

  // XORs the stored byte at `offset` with `mask` (it must be held).
  void flip(std::uint64_t offset, std::uint8_t mask) {
    data_[pos(offset)] ^= static_cast<char>(mask);
  }

  // Frees the storage when nothing is held (an idle direction costs nothing).
  void trim();

 private:
  void grow(std::size_t at_least);
  std::size_t pos(std::uint64_t offset) const {
    return static_cast<std::size_t>(offset - origin_) & (capacity_ - 1);
  }

  std::unique_ptr<char[]> data_;
  std::size_t capacity_ = 0;  // a power of two, or 0 when no storage is held
  std::size_t max_capacity_;
  std::uint64_t head_;
  std::uint64_t tail_;
  // The offset stored at position 0. Moved to head_ whenever release_to()
  // empties the ring (so an empty ring always has origin_ == head_), and a
  // drained ring offers its whole storage as one span again.
  std::uint64_t origin_;
};

}  // namespace brownout::proxy

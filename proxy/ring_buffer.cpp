#include "proxy/ring_buffer.hpp"

#include <algorithm>
#include <bit>
#include <cstring>
#include <vector>

namespace brownout::proxy {

namespace {
constexpr std::size_t kInitialCapacity = 64 * 1024;
constexpr std::size_t kMinContiguous = 4096;
constexpr std::size_t kPoolKept = 16;  // blocks a thread keeps for reuse

thread_local std::vector<std::unique_ptr<char[]>> pool;

// Storage of `size` bytes: a pooled block when that is its size.
std::unique_ptr<char[]> allocate(std::size_t size) {
  if (size == BlockPool::kBlockSize) return BlockPool::acquire();
  return std::make_unique_for_overwrite<char[]>(size);
}
void free_storage(std::unique_ptr<char[]> data, std::size_t size) {
  if (size == BlockPool::kBlockSize) BlockPool::release(std::move(data));
}
}  // namespace

std::unique_ptr<char[]> BlockPool::acquire() {
  if (pool.empty()) return std::make_unique_for_overwrite<char[]>(kBlockSize);
  auto b = std::move(pool.back());
  pool.pop_back();
  return b;
}

void BlockPool::release(std::unique_ptr<char[]> block) {
  if (block && pool.size() < kPoolKept) pool.push_back(std::move(block));
}

RingBuffer::~RingBuffer() {
  free_storage(std::move(data_), capacity_);
}

RingBuffer::RingBuffer(std::uint64_t start_offset, std::size_t max_capacity)
    : max_capacity_(std::bit_floor(std::max(max_capacity, kInitialCapacity))),
      head_(start_offset),
      tail_(start_offset),
      origin_(start_offset) {}

std::span<char> RingBuffer::writable(std::size_t want, bool may_grow, bool eager) {
  want = std::max<std::size_t>(want, 1);
  if (capacity_ == 0) {
    if (!may_grow) return {};
    grow(eager ? want : kInitialCapacity);
  } else if (eager && may_grow && capacity_ < want && capacity_ < max_capacity_) {
    grow(want);
  }
  for (;;) {
    const std::size_t pos = this->pos(head_);
    const std::size_t free_total = capacity_ - size();
    const std::size_t contiguous = std::min(capacity_ - pos, free_total);
    if (contiguous >= std::min(want, kMinContiguous) || capacity_ >= max_capacity_ || !may_grow) {
      return {data_.get() + pos, std::min(contiguous, want)};
    }
    grow(capacity_ * 2);
  }
}

void RingBuffer::release_to(std::uint64_t offset) {
  tail_ = std::clamp(offset, tail_, head_);
  if (tail_ == head_) origin_ = head_;
}

int RingBuffer::readable(std::uint64_t offset, std::size_t size,
                         std::span<const char> (&out)[2]) const {
  if (size == 0) return 0;
  const std::size_t pos = this->pos(offset);
  const std::size_t first = std::min(size, capacity_ - pos);
  out[0] = {data_.get() + pos, first};
  if (first == size) return 1;
  out[1] = {data_.get(), size - first};
  return 2;
}

void RingBuffer::trim() {
  if (size() == 0 && capacity_ != 0) {
    free_storage(std::move(data_), capacity_);
    capacity_ = 0;
  }
}

void RingBuffer::grow(std::size_t at_least) {
  const std::size_t next = std::min(std::bit_ceil(at_least), max_capacity_);
  auto fresh = allocate(next);
  // Copy the held bytes to where their offsets map in the new storage.
  for (std::uint64_t off = tail_; off < head_;) {
    const std::size_t from = pos(off);
    const std::size_t to = static_cast<std::size_t>(off - origin_) & (next - 1);
    const std::size_t n =
        std::min({static_cast<std::size_t>(head_ - off), capacity_ - from, next - to});
    std::memcpy(fresh.get() + to, data_.get() + from, n);
    off += n;
  }
  free_storage(std::move(data_), capacity_);
  data_ = std::move(fresh);
  capacity_ = next;
}

}  // namespace brownout::proxy

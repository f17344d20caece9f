/// TimerQueue: one-shot timers of one EventLoop, in a min-heap ordered by
/// deadline, with a timerfd(2) armed for the earliest so that epoll wakes
/// the loop when it is due. Loop thread only (EventLoop::runAfter and
/// cancel forward here from other threads).
#pragma once

#include <cstdint>
#include <algorithm>
#include <vector>

#include "base/Fd.h"
#include "base/NonCopyable.h"
#include "net/Callbacks.h"
#include "net/TimerId.h"

class Channel;
class EventLoop;

class TimerQueue : NonCopyable
{
  public:
    explicit TimerQueue(EventLoop *loop);
    ~TimerQueue();

    /// Runs cb at whenMs (on Timestamp::nowMs's clock).
    TimerId add(int64_t whenMs, TimerCallback cb);
    /// A cancelled timer never runs; cancelling one that ran does nothing.
    void cancel(TimerId id);
    size_t size() const
    {
        return live_;
    }

  private:
    struct Entry {
        int64_t whenMs;
        uint64_t sequence;
        uint32_t slot;
        // The heap's top is the earliest, ties broken by age.
        bool operator>(const Entry &o) const
        {
            return whenMs != o.whenMs ? whenMs > o.whenMs
                                      : sequence > o.sequence;
        }
    };

    /// Where a callback waits: sequence names the timer that holds it, 0
    /// when the slot is free.
    struct Slot {
        uint64_t sequence = 0;
        TimerCallback callback;
    };

    void handleExpired();
    void arm();
    void popTop();
    void dropCancelled();
    bool isLive(uint64_t sequence, uint32_t slot) const
    {
        return slot < slots_.size() && slots_[slot].sequence == sequence;
    }
    uint32_t takeSlot();
    void freeSlot(uint32_t slot);

    EventLoop *loop_;
    Fd timerFd_;
    std::unique_ptr<Channel> channel_;
    uint64_t nextSequence_ = 1;
    int64_t armedFor_ = -1; // the deadline the timerfd is set to, -1: none
    // Cancelling only forgets the callback; its heap entry is dropped when
    // it reaches the top, or when such entries outnumber the live ones.
    // That keeps cancel O(1) amortised: every connection cancels its timer.
    std::vector<Entry> heap_; // a min-heap: std::greater with the heap calls
    // The callbacks, in slots reused once their timer has run or been
    // cancelled, rather than a node allocated per timer: every connection
    // has one, and re-arms it once per keep-alive timeout. As many slots as
    // timers were ever live at once.
    std::vector<Slot> slots_;
    std::vector<uint32_t> freeSlots_;
    size_t live_ = 0; // slots in use
};

// TimerQueue: a min-heap of deadlines behind one timerfd. The timerfd is
// re-armed only when the earliest deadline changes.
#include "net/TimerQueue.h"

#include <sys/timerfd.h>

#include <cerrno>
#include <cstring>

#include "base/Logger.h"
#include "base/Timestamp.h"
#include "net/Channel.h"
#include "net/EventLoop.h"

namespace
{
constexpr size_t kCompactAbove = 64; // cancelled entries always tolerated
}

TimerQueue::TimerQueue(EventLoop *loop)
    : loop_(loop),
      timerFd_(timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC)),
      channel_(std::make_unique<Channel>(loop, timerFd_.get()))
{
    if (!timerFd_) { // a loop without timers would never time anything out
        Log::error("timerfd_create: %s", strerror(errno));
        abort();
    }
    channel_->setReadCallback([this] { handleExpired(); });
    channel_->enableReading();
}

TimerQueue::~TimerQueue()
{
    channel_->remove();
}

TimerId TimerQueue::add(int64_t whenMs, TimerCallback cb)
{
    loop_->assertInLoopThread();
    uint64_t sequence = nextSequence_++;
    uint32_t slot = takeSlot();
    slots_[slot].sequence = sequence;
    slots_[slot].callback = std::move(cb);
    heap_.push_back({whenMs, sequence, slot});
    std::push_heap(heap_.begin(), heap_.end(), std::greater<Entry>());
    if (armedFor_ < 0 || whenMs < armedFor_)
        arm();
    return TimerId{sequence, slot};
}

void TimerQueue::cancel(TimerId id)
{
    loop_->assertInLoopThread();
    if (!isLive(id.sequence, id.slot))
        return; // it ran, or was cancelled before
    freeSlot(id.slot);
    // The timerfd may stay armed for this timer: one early wake-up finds
    // nothing to run, cheaper than a timerfd_settime at every cancel.
    if (heap_.size() > 2 * live_ + kCompactAbove)
        dropCancelled();
}

uint32_t TimerQueue::takeSlot()
{
    live_++;
    if (freeSlots_.empty()) {
        slots_.emplace_back();
        return uint32_t(slots_.size() - 1);
    }
    uint32_t slot = freeSlots_.back();
    freeSlots_.pop_back();
    return slot;
}

// The callback goes now, and what it captured with it.
void TimerQueue::freeSlot(uint32_t slot)
{
    slots_[slot].sequence = 0;
    slots_[slot].callback = nullptr;
    freeSlots_.push_back(slot);
    live_--;
}

void TimerQueue::dropCancelled()
{
    auto cancelled = [this](const Entry &e) {
        return !isLive(e.sequence, e.slot);
    };
    heap_.erase(std::remove_if(heap_.begin(), heap_.end(), cancelled),
                heap_.end());
    std::make_heap(heap_.begin(), heap_.end(), std::greater<Entry>());
}

void TimerQueue::popTop()
{
    std::pop_heap(heap_.begin(), heap_.end(), std::greater<Entry>());
    heap_.pop_back();
}

void TimerQueue::arm()
{
    while (!heap_.empty() &&
           !isLive(heap_.front().sequence, heap_.front().slot))
        popTop(); // cancelled
    struct itimerspec spec = {};
    armedFor_ = -1;
    if (!heap_.empty()) {
        armedFor_ = heap_.front().whenMs;
        // An absolute deadline: a delay computed from "now" would drift.
        spec.it_value.tv_sec = armedFor_ / 1000;
        spec.it_value.tv_nsec = (armedFor_ % 1000) * 1000000;
        if (spec.it_value.tv_sec == 0 && spec.it_value.tv_nsec == 0)
            spec.it_value.tv_nsec = 1; // all zero would disarm it
    }
    if (timerfd_settime(timerFd_.get(), TFD_TIMER_ABSTIME, &spec, nullptr) < 0)
        Log::error("timerfd_settime: %s", strerror(errno));
}

void TimerQueue::handleExpired()
{
    uint64_t expirations;
    // Reading clears the readiness; EAGAIN just means a spurious wake-up.
    if (read(timerFd_.get(), &expirations, sizeof expirations) < 0 &&
        errno != EAGAIN)
        Log::error("timerfd read: %s", strerror(errno));
    int64_t now = Timestamp::nowMs();
    while (!heap_.empty() && heap_.front().whenMs <= now) {
        Entry top = heap_.front();
        popTop();
        if (!isLive(top.sequence, top.slot))
            continue; // cancelled
        // Out of its slot first: the callback may add timers, which may
        // take the slot or move the slots' storage.
        TimerCallback cb = std::move(slots_[top.slot].callback);
        freeSlot(top.slot);
        cb(); // may add or cancel timers
    }
    arm();
}

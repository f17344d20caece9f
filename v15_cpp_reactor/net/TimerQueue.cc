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
    heap_.push_back({whenMs, sequence});
    std::push_heap(heap_.begin(), heap_.end(), std::greater<Entry>());
    callbacks_.emplace(sequence, std::move(cb));
    if (armedFor_ < 0 || whenMs < armedFor_)
        arm();
    return TimerId{sequence};
}

void TimerQueue::cancel(TimerId id)
{
    loop_->assertInLoopThread();
    callbacks_.erase(id.sequence);
    // The timerfd may stay armed for this timer: one early wake-up finds
    // nothing to run, cheaper than a timerfd_settime at every cancel.
    if (heap_.size() > 2 * callbacks_.size() + kCompactAbove)
        dropCancelled();
}

void TimerQueue::dropCancelled()
{
    auto cancelled = [this](const Entry &e) {
        return callbacks_.count(e.sequence) == 0;
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
    while (!heap_.empty() && !callbacks_.count(heap_.front().sequence))
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
        uint64_t sequence = heap_.front().sequence;
        popTop();
        auto it = callbacks_.find(sequence);
        if (it == callbacks_.end())
            continue; // cancelled
        TimerCallback cb = std::move(it->second);
        callbacks_.erase(it);
        cb(); // may add or cancel timers
    }
    arm();
}

// EventLoop: wait, dispatch, run what other threads queued, repeat.
#include "net/EventLoop.h"

#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cassert>
#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "base/Logger.h"
#include "base/Timestamp.h"
#include "net/Channel.h"
#include "net/EPoller.h"
#include "net/TimerQueue.h"

namespace
{
thread_local EventLoop *t_loopInThisThread = nullptr;
}

pid_t EventLoop::currentThreadId()
{
    // gettid(2) is a system call: ask once per thread.
    thread_local pid_t tid = static_cast<pid_t>(syscall(SYS_gettid));
    return tid;
}

EventLoop *EventLoop::ofCurrentThread()
{
    return t_loopInThisThread;
}

EventLoop::EventLoop()
    : threadId_(currentThreadId()), pollReturnMs_(Timestamp::nowMs()),
      poller_(std::make_unique<EPoller>()),
      wakeupFd_(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC))
{
    if (!wakeupFd_) { // no loop can work without it: startup fails loudly
        Log::error("eventfd: %s", strerror(errno));
        abort();
    }
    if (t_loopInThisThread != nullptr) {
        Log::error("a second EventLoop on thread %d", threadId_);
        abort(); // one loop per thread is this design's invariant
    }
    t_loopInThisThread = this;
    timers_ = std::make_unique<TimerQueue>(this);
    wakeupChannel_ = std::make_unique<Channel>(this, wakeupFd_.get());
    wakeupChannel_->setReadCallback([this] { handleWakeup(); });
    wakeupChannel_->enableReading();
}

EventLoop::~EventLoop()
{
    wakeupChannel_->remove();
    timers_.reset();
    t_loopInThisThread = nullptr;
}

void EventLoop::assertInLoopThread() const
{
    if (!isInLoopThread()) {
        Log::error("EventLoop of thread %d used from thread %d", threadId_,
                   currentThreadId());
        abort();
    }
}

void EventLoop::loop()
{
    assertInLoopThread();
    // What was queued from this thread before the loop started would
    // otherwise wait for the first event: queueInLoop wakes no one then.
    runQueuedFunctors();
    while (!quit_.load(std::memory_order_acquire)) {
        poller_->poll(-1, active_); // timers wake us through their timerfd
        pollReturnMs_ = Timestamp::nowMs();
        iteration_++;
        dispatchActive();
        runQueuedFunctors();
    }
}

// A callback may close connections, end scripts or stop timers, and so
// destroy channels that are further down this same batch: removeChannel
// blanks their entries (nullptr), and a blank entry is passed over.
void EventLoop::dispatchActive()
{
    for (size_t i = 0; i < active_.size(); i++)
        if (Channel *channel = active_[i])
            channel->handleEvent();
    active_.clear();
}

void EventLoop::quit()
{
    quit_.store(true, std::memory_order_release);
    if (!isInLoopThread())
        wakeup();
}

void EventLoop::runInLoop(Functor cb)
{
    if (isInLoopThread())
        cb();
    else
        queueInLoop(std::move(cb));
}

void EventLoop::queueInLoop(Functor cb)
{
    {
        std::lock_guard<std::mutex> lock(mutex_);
        queued_.push_back(std::move(cb));
    }
    // From another thread the loop may sleep in epoll_wait; from this one
    // while it runs queued functors, they would wait for the next event.
    if (!isInLoopThread() || runningQueued_)
        wakeup();
}

TimerId EventLoop::runAfter(int64_t delayMs, TimerCallback cb)
{
    int64_t when = Timestamp::nowMs() + delayMs;
    if (isInLoopThread())
        return timers_->add(when, std::move(cb));
    // Another thread gets no id back: it cannot know the sequence before
    // the loop assigns it. Cross-thread timers are fire-and-forget.
    queueInLoop([this, when, cb = std::move(cb)]() mutable {
        timers_->add(when, std::move(cb));
    });
    return TimerId{};
}

void EventLoop::cancel(TimerId id)
{
    if (!id)
        return;
    // Not through runInLoop: a functor holding this and the 16-byte id is
    // past the 16 bytes std::function keeps without an allocation, and
    // every connection cancels its timer as it closes.
    if (isInLoopThread())
        timers_->cancel(id);
    else
        queueInLoop([this, id] { timers_->cancel(id); });
}

void EventLoop::updateChannel(Channel *channel)
{
    assertInLoopThread();
    poller_->updateChannel(channel);
}

void EventLoop::removeChannel(Channel *channel)
{
    assertInLoopThread();
    poller_->removeChannel(channel);
    // The channel's owner may destroy it as soon as this returns, while
    // the batch being dispatched still names it: forget it there. The
    // batch is short (what one epoll_wait returned), so is the scan.
    std::replace(active_.begin(), active_.end(), channel,
                 static_cast<Channel *>(nullptr));
}

void EventLoop::wakeup()
{
    uint64_t one = 1;
    if (write(wakeupFd_.get(), &one, sizeof one) < 0 && errno != EAGAIN)
        Log::error("eventfd write: %s", strerror(errno));
}

void EventLoop::handleWakeup()
{
    uint64_t count;
    if (read(wakeupFd_.get(), &count, sizeof count) < 0 && errno != EAGAIN)
        Log::error("eventfd read: %s", strerror(errno));
}

void EventLoop::runQueuedFunctors()
{
    {
        // Swap, then run outside the lock: a functor may queue another.
        std::lock_guard<std::mutex> lock(mutex_);
        running_.swap(queued_);
    }
    runningQueued_ = true;
    for (Functor &f : running_)
        f();
    running_.clear();
    runningQueued_ = false;
}

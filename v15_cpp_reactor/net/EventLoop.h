/// EventLoop: the reactor, at most one per thread. It waits on epoll, runs
/// the callbacks of the channels that are ready, then the functors other
/// threads queued, and runs timers from its TimerQueue. Every method is
/// loop-thread only except runInLoop, queueInLoop, runAfter, cancel and
/// quit, the doors other threads use.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <vector>

#include "base/Fd.h"
#include "base/NonCopyable.h"
#include "net/Callbacks.h"
#include "net/TimerId.h"

class Channel;
class EPoller;
class TimerQueue;

class EventLoop : NonCopyable
{
  public:
    EventLoop();
    ~EventLoop();

    /// Runs until quit(). Must be called on the thread that made the loop.
    void loop();
    /// Makes loop() return after the current iteration. Any thread.
    void quit();

    /// Runs cb now if called on the loop's thread, else queues it.
    void runInLoop(Functor cb);
    /// Queues cb to run after the current iteration's events. Any thread.
    void queueInLoop(Functor cb);

    /// Runs cb once, delayMs from now, on the loop's thread. Any thread.
    TimerId runAfter(int64_t delayMs, TimerCallback cb);
    /// Cancels a timer that has not run yet. Any thread.
    void cancel(TimerId id);

    void updateChannel(Channel *channel);
    /// Takes channel out of epoll and out of the batch being dispatched:
    /// once this returns, the loop never touches channel again, so its
    /// owner may destroy it, even from inside another channel's callback.
    void removeChannel(Channel *channel);

    /// When the last epoll_wait returned, on Timestamp::nowMs's clock: a
    /// clock read once per iteration, for the many "last activity" stamps.
    int64_t pollReturnMs() const
    {
        return pollReturnMs_;
    }
    /// How many times epoll_wait has returned: what happened before this
    /// changed was known before the events now being handled.
    uint64_t iteration() const
    {
        return iteration_;
    }

    bool isInLoopThread() const
    {
        return threadId_ == currentThreadId();
    }
    void assertInLoopThread() const;

    /// The loop running on the calling thread, or nullptr.
    static EventLoop *ofCurrentThread();
    static pid_t currentThreadId();

  private:
    void dispatchActive();
    void wakeup();
    void handleWakeup();
    void runQueuedFunctors();

    const pid_t threadId_;
    std::atomic<bool> quit_{false};
    bool runningQueued_ = false;
    int64_t pollReturnMs_ = 0;
    uint64_t iteration_ = 1;
    std::unique_ptr<EPoller> poller_;
    std::unique_ptr<TimerQueue> timers_;
    Fd wakeupFd_; // an eventfd: other threads write to it to wake epoll_wait
    std::unique_ptr<Channel> wakeupChannel_;
    // The batch of ready channels being dispatched; empty between batches.
    // An entry is blanked (nullptr) when its channel is removed mid-batch.
    std::vector<Channel *> active_;
    std::mutex mutex_;
    std::vector<Functor> queued_; // guarded by mutex_
    // The batch runQueuedFunctors() runs, swapped with queued_: each keeps
    // the other's memory, so queueing allocates nothing once both have
    // grown. Loop thread only; empty between batches.
    std::vector<Functor> running_;
};

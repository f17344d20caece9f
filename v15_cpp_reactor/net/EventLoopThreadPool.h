/// EventLoopThreadPool: the I/O threads, each running its own EventLoop,
/// and round-robin over them for new connections. With no threads, every
/// connection stays in the base (accepting) loop. Started and used on the
/// base loop's thread.
#pragma once

#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#include "base/NonCopyable.h"

class EventLoop;

class EventLoopThreadPool : NonCopyable
{
  public:
    explicit EventLoopThreadPool(EventLoop *baseLoop);
    ~EventLoopThreadPool();

    /// Starts count threads and returns once each loop is running.
    void start(int count);
    /// The loop for the next connection.
    EventLoop *nextLoop();
    /// Every loop connections may live in (the base loop if no threads).
    std::vector<EventLoop *> allLoops() const;
    /// Quits every loop and joins its thread.
    void stop();

  private:
    EventLoop *baseLoop_;
    std::vector<std::thread> threads_;
    std::vector<EventLoop *> loops_;
    size_t next_ = 0;
    // Each thread keeps its loop until stop() has finished quitting all.
    std::mutex releaseMutex_;
    std::condition_variable released_;
    bool releasedFlag_ = false;
};

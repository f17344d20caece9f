// EventLoopThreadPool: one EventLoop per thread, each made on its own
// thread's stack (a loop belongs to the thread that constructed it).
#include "net/EventLoopThreadPool.h"

#include <condition_variable>
#include <mutex>

#include "net/EventLoop.h"

EventLoopThreadPool::EventLoopThreadPool(EventLoop *baseLoop)
    : baseLoop_(baseLoop)
{
}

EventLoopThreadPool::~EventLoopThreadPool()
{
    stop();
}

void EventLoopThreadPool::start(int count)
{
    baseLoop_->assertInLoopThread();
    std::mutex mutex;
    std::condition_variable ready;
    loops_.assign(static_cast<size_t>(count), nullptr);
    for (int i = 0; i < count; i++) {
        threads_.emplace_back([&, i] {
            EventLoop loop;
            {
                // Notify under the lock: start() cannot return, and take
                // mutex and ready off its stack, before the notify is done.
                std::lock_guard<std::mutex> lock(mutex);
                loops_[static_cast<size_t>(i)] = &loop;
                ready.notify_one();
            }
            loop.loop();
            // Another thread may still be inside loop.quit(), writing to
            // its eventfd: the loop must outlive that call.
            std::unique_lock<std::mutex> lock(releaseMutex_);
            released_.wait(lock, [this] { return releasedFlag_; });
        });
    }
    // Wait until every thread has published its loop: a connection must
    // never be handed to a loop that does not exist yet.
    std::unique_lock<std::mutex> lock(mutex);
    ready.wait(lock, [this] {
        for (EventLoop *loop : loops_)
            if (loop == nullptr)
                return false;
        return true;
    });
}

EventLoop *EventLoopThreadPool::nextLoop()
{
    baseLoop_->assertInLoopThread();
    if (loops_.empty())
        return baseLoop_;
    EventLoop *loop = loops_[next_];
    next_ = (next_ + 1) % loops_.size();
    return loop;
}

std::vector<EventLoop *> EventLoopThreadPool::allLoops() const
{
    if (loops_.empty())
        return {baseLoop_};
    return loops_;
}

void EventLoopThreadPool::stop()
{
    for (EventLoop *loop : loops_)
        loop->quit();
    {
        std::lock_guard<std::mutex> lock(releaseMutex_);
        releasedFlag_ = true;
        released_.notify_all();
    }
    for (std::thread &t : threads_)
        t.join();
    threads_.clear();
    loops_.clear();
}

// ScriptQueue: a counter of running tasks and a FIFO of waiting ones behind
// one mutex. A waiting task is resumed on its own loop through queueInLoop,
// because only that loop's thread may touch it (or destroy it).
#include "http/ScriptQueue.h"

#include <algorithm>
#include <deque>
#include <mutex>

#include "http/ScriptTask.h"
#include "net/EventLoop.h"

namespace
{

struct Waiter {
    EventLoop *loop;
    const ScriptTask *task; // to find it again in forget()
    std::weak_ptr<ScriptTask> weak; // locked only on loop's thread
};

struct Queue {
    std::mutex mutex;
    int limit = 4;
    size_t maxWaiting = 1024;
    int running = 0;
    bool stopped = false;
    std::deque<Waiter> waiting;
};

Queue &theQueue()
{
    static Queue queue;
    return queue;
}

// The slot passes to next without being counted back in: running stays.
// The task may be gone by the time its loop runs this (its connection
// closed meanwhile); then the slot passes on again.
void grant(const Waiter &next)
{
    next.loop->queueInLoop([weak = next.weak] {
        if (std::shared_ptr<ScriptTask> task = weak.lock())
            task->resume();
        else
            ScriptQueue::release();
    });
}

} // namespace

void ScriptQueue::setLimits(int running, int waiting)
{
    Queue &q = theQueue();
    std::lock_guard<std::mutex> lock(q.mutex);
    q.limit = std::max(running, 1);
    q.maxWaiting = size_t(std::max(waiting, 0));
}

ScriptQueue::Admission
ScriptQueue::admit(const std::shared_ptr<ScriptTask> &task)
{
    Queue &q = theQueue();
    std::lock_guard<std::mutex> lock(q.mutex);
    if (q.stopped)
        return kStopped;
    if (q.running < q.limit) {
        q.running++;
        return kRunNow;
    }
    // Shedding load beats a line that grows without bound: the last in a
    // long one would wait for an answer its client gave up on long ago.
    if (q.waiting.size() >= q.maxWaiting)
        return kFull;
    q.waiting.push_back({task->loop(), task.get(), task});
    return kQueued;
}

void ScriptQueue::release()
{
    Queue &q = theQueue();
    Waiter next;
    {
        std::lock_guard<std::mutex> lock(q.mutex);
        if (q.waiting.empty()) {
            q.running--;
            return;
        }
        next = std::move(q.waiting.front());
        q.waiting.pop_front();
    }
    grant(next);
}

int ScriptQueue::running()
{
    Queue &q = theQueue();
    std::lock_guard<std::mutex> lock(q.mutex);
    return q.running;
}

void ScriptQueue::forget(const ScriptTask *task)
{
    Queue &q = theQueue();
    std::lock_guard<std::mutex> lock(q.mutex);
    q.waiting.erase(
        std::remove_if(q.waiting.begin(), q.waiting.end(),
                       [task](const Waiter &w) { return w.task == task; }),
        q.waiting.end());
}

void ScriptQueue::stop()
{
    Queue &q = theQueue();
    std::deque<Waiter> refused;
    {
        std::lock_guard<std::mutex> lock(q.mutex);
        q.stopped = true;
        refused.swap(q.waiting);
    }
    for (const Waiter &w : refused)
        w.loop->queueInLoop([weak = w.weak] {
            if (std::shared_ptr<ScriptTask> task = weak.lock())
                task->refuse(503);
        });
}

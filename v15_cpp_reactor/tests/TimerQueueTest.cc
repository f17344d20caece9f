// TimerQueueTest: timers run in deadline order, a cancelled timer never
// runs, and a timer may add and cancel others from its callback.
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "net/EventLoop.h"
#include "tests/Check.h"

namespace
{

void runInDeadlineOrder()
{
    EventLoop loop;
    std::string order;
    loop.runAfter(30, [&] { order += "c"; });
    loop.runAfter(10, [&] { order += "a"; });
    loop.runAfter(20, [&] { order += "b"; });
    loop.runAfter(20, [&] { order += "B"; }); // a tie: the older first
    loop.runAfter(40, [&] { loop.quit(); });
    loop.loop();
    CHECK_EQ(order, std::string("abBc"));
}

void cancelledTimersNeverRun()
{
    EventLoop loop;
    std::string ran;
    TimerId doomed = loop.runAfter(10, [&] { ran += "doomed"; });
    loop.runAfter(5, [&] { loop.cancel(doomed); });
    TimerId gone = loop.runAfter(1, [&] { ran += "once"; });
    loop.runAfter(30, [&] {
        loop.cancel(gone); // already ran: nothing happens
        loop.quit();
    });
    loop.loop();
    CHECK_EQ(ran, std::string("once"));
}

// A timer that ran leaves its slot to the next one: the old id, cancelled
// late, must not cancel the timer that took its place.
void aStaleIdCancelsNothing()
{
    EventLoop loop;
    std::string ran;
    TimerId first = loop.runAfter(1, [&] { ran += "first "; });
    loop.runAfter(5, [&] {
        // This timer's own slot is free too: one of the two takes first's.
        TimerId second = loop.runAfter(5, [&] { ran += "second "; });
        TimerId third = loop.runAfter(6, [&] { ran += "third"; });
        CHECK(second.slot == first.slot || third.slot == first.slot);
        loop.cancel(first);
    });
    loop.runAfter(30, [&] { loop.quit(); });
    loop.loop();
    CHECK_EQ(ran, std::string("first second third"));
}

void callbacksMayScheduleMore()
{
    EventLoop loop;
    int count = 0;
    std::function<void()> again = [&] {
        if (++count < 5)
            loop.runAfter(1, again);
        else
            loop.quit();
    };
    loop.runAfter(1, again);
    loop.loop();
    CHECK_EQ(count, 5);
}

void otherThreadsQueueWork()
{
    EventLoop loop;
    std::vector<int> seen;
    std::thread other([&] {
        for (int i = 0; i < 100; i++)
            loop.queueInLoop([&seen, i] { seen.push_back(i); });
        loop.queueInLoop([&] { loop.quit(); });
    });
    loop.loop();
    other.join();
    CHECK_EQ(seen.size(), size_t(100));
    bool inOrder = true;
    for (size_t i = 0; i < seen.size(); i++)
        inOrder = inOrder && seen[i] == static_cast<int>(i);
    CHECK(inOrder);
}

} // namespace

int main()
{
    // One loop per thread: each test makes its loop on a fresh thread.
    for (auto test :
         {runInDeadlineOrder, cancelledTimersNeverRun, aStaleIdCancelsNothing,
          callbacksMayScheduleMore, otherThreadsQueueWork}) {
        std::thread t(test);
        t.join();
    }
    return check::result("TimerQueueTest");
}

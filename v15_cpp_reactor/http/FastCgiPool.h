/// FastCgiPool: one event loop's idle connections to php-fpm, each kept
/// open after its request (FCGI_KEEP_CONN) for a later request of the same
/// loop. Loop thread only, so no lock; owned by the loop's state in
/// HttpServer, which empties it with close() on the loop's thread before
/// the loop ends: an idle connection's Channel must leave epoll while the
/// loop is still there. One that php-fpm closes while idle (restarted, a
/// worker recycled by pm.max_requests) is dropped at once, and one unused
/// for kIdleTimeoutMs is closed.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "base/Fd.h"
#include "base/NonCopyable.h"

class EventLoop;

class FastCgiPool : NonCopyable
{
  public:
    /// How long one is kept unused. Another loop (or worker process) that
    /// finds every php-fpm worker held by idle connections waits in
    /// php-fpm's listen queue until one closes: this bounds the wait, well
    /// below the smallest fastcgi_timeout (1 s), which would answer 504.
    static constexpr int64_t kIdleTimeoutMs = 500;

    /// maxIdle: the idle connections kept. Each holds one of php-fpm's
    /// workers (pm.max_children), which waits on it for the next request;
    /// HttpServer gives each loop its share of worker_threads, so that
    /// all the loops together keep no more than the scripts that may run.
    FastCgiPool(EventLoop *loop, size_t maxIdle);
    ~FastCgiPool();

    /// The most recently used idle connection, out of epoll, or an empty
    /// Fd if there is none.
    Fd take();
    /// Keeps socket, connected and between two requests, for a later one;
    /// closes it when maxIdle are kept already or the pool is closed.
    void put(Fd socket);
    /// Closes every idle connection, and every one put back later.
    void close();

  private:
    struct Idle;

    void drop(const Idle *idle);

    EventLoop *loop_;
    const size_t maxIdle_;
    std::vector<std::shared_ptr<Idle>> idle_; // the most recent last
    bool closed_ = false;
};

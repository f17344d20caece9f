// FastCgiPool: a connection waits in epoll for nothing but its close:
// php-fpm sends nothing between two requests, so anything it reports (an
// EOF, an error, stray bytes) ends the connection's use.
#include "http/FastCgiPool.h"

#include <algorithm>

#include "net/Channel.h"
#include "net/EventLoop.h"

/// One idle connection. Shared so that its Channel's tie keeps it alive
/// through the dispatch of the event that drops it.
struct FastCgiPool::Idle {
    Idle(EventLoop *l, Fd connection)
        : loop(l), socket(std::move(connection)), channel(l, socket.get())
    {
    }
    ~Idle()
    {
        loop->cancel(expiry);
        channel.remove(); // before the descriptor closes
    }
    EventLoop *loop;
    Fd socket;
    Channel channel;
    TimerId expiry; // kIdleTimeoutMs after it was put back
};

FastCgiPool::FastCgiPool(EventLoop *loop, size_t maxIdle)
    : loop_(loop), maxIdle_(maxIdle)
{
}

FastCgiPool::~FastCgiPool() = default;

Fd FastCgiPool::take()
{
    if (idle_.empty())
        return Fd();
    std::shared_ptr<Idle> idle = std::move(idle_.back());
    idle_.pop_back();
    idle->channel.remove();
    return std::move(idle->socket);
}

void FastCgiPool::put(Fd socket)
{
    if (closed_ || idle_.size() >= maxIdle_)
        return;
    auto idle = std::make_shared<Idle>(loop_, std::move(socket));
    const Idle *raw = idle.get();
    idle->channel.tie(idle);
    idle->channel.setReadCallback([this, raw] { drop(raw); });
    idle->channel.setCloseCallback([this, raw] { drop(raw); });
    idle->channel.enableReading();
    idle->expiry = loop_->runAfter(kIdleTimeoutMs, [this, raw] { drop(raw); });
    idle_.push_back(std::move(idle));
}

void FastCgiPool::close()
{
    closed_ = true;
    idle_.clear();
}

void FastCgiPool::drop(const Idle *idle)
{
    idle_.erase(std::remove_if(idle_.begin(), idle_.end(),
                               [idle](const std::shared_ptr<Idle> &kept) {
                                   return kept.get() == idle;
                               }),
                idle_.end());
}

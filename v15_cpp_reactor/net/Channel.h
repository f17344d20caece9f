/// Channel: one descriptor's interest and callbacks inside one EventLoop.
/// It does not own the descriptor. Loop thread only. Its owner (a
/// TcpConnection, the Acceptor, a CGI pipe) must remove() it before the
/// Channel is destroyed: remove() also takes it out of the batch of ready
/// events being dispatched, which may still name it (EventLoop).
#pragma once

#include <sys/epoll.h>

#include <functional>
#include <memory>

#include "base/NonCopyable.h"

class EventLoop;

class Channel : NonCopyable
{
  public:
    using EventCallback = std::function<void()>;

    Channel(EventLoop *loop, int fd);
    ~Channel();

    /// Runs the callbacks for what epoll reported (revents).
    void handleEvent();

    void setReadCallback(EventCallback cb)
    {
        readCallback_ = std::move(cb);
    }
    void setWriteCallback(EventCallback cb)
    {
        writeCallback_ = std::move(cb);
    }
    void setCloseCallback(EventCallback cb)
    {
        closeCallback_ = std::move(cb);
    }

    /// Ties the channel to its owner: while handling an event the channel
    /// holds the owner alive, so a callback that closes the connection does
    /// not destroy the object whose callback is still running.
    void tie(const std::shared_ptr<void> &owner);

    int fd() const
    {
        return fd_;
    }
    uint32_t events() const
    {
        return events_;
    }
    void setRevents(uint32_t revents)
    {
        revents_ = revents;
    }

    void enableReading()
    {
        update(events_ | EPOLLIN);
    }
    void disableReading()
    {
        update(events_ & ~uint32_t(EPOLLIN));
    }
    void enableWriting()
    {
        update(events_ | EPOLLOUT);
    }
    void disableWriting()
    {
        update(events_ & ~uint32_t(EPOLLOUT));
    }
    void disableAll()
    {
        update(0);
    }
    bool isWriting() const
    {
        return events_ & EPOLLOUT;
    }
    bool isReading() const
    {
        return events_ & EPOLLIN;
    }

    /// Takes the descriptor out of the loop's epoll set and out of the
    /// batch being dispatched; nothing if it was never added. Afterwards
    /// the loop holds no pointer to this channel.
    void remove();

    EventLoop *ownerLoop() const
    {
        return loop_;
    }

    /// The poller's bookkeeping: whether epoll holds this descriptor.
    bool inPoller() const
    {
        return inPoller_;
    }
    void setInPoller(bool in)
    {
        inPoller_ = in;
    }

  private:
    void update(uint32_t events);
    void handleEventGuarded();

    EventLoop *loop_;
    const int fd_;
    uint32_t events_ = 0;
    uint32_t revents_ = 0;
    bool inPoller_ = false; // epoll holds the descriptor
    bool addedToLoop_ = false; // from the first update until remove()
    bool tied_ = false;
    std::weak_ptr<void> owner_;
    EventCallback readCallback_;
    EventCallback writeCallback_;
    EventCallback closeCallback_;
};

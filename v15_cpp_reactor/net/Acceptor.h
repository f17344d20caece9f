/// Acceptor: the listening socket's part in the accepting loop. Takes the
/// connections that are waiting and hands each to a callback as a
/// non-blocking socket. Loop thread only.
#pragma once

#include <netinet/in.h>

#include <functional>
#include <memory>

#include "base/Fd.h"
#include "base/NonCopyable.h"

class Channel;
class EventLoop;

class Acceptor : NonCopyable
{
  public:
    using NewConnectionCallback =
        std::function<void(Fd, const sockaddr_storage &)>;

    Acceptor(EventLoop *loop, Fd listenFd, NewConnectionCallback cb);
    ~Acceptor();

    /// Stops taking connections and closes the listening socket, so that
    /// new clients are refused (graceful shutdown).
    void close();
    /// Takes the connections already waiting, then closes: a listener that
    /// another replaces (a reload) drops none of its queue.
    void closeAfterAccepting();

  private:
    void handleRead();
    /// Accepts one waiting connection and hands it on; false, with errno
    /// set, when accept4 failed.
    bool acceptOne();
    void dropOneConnection();

    EventLoop *loop_;
    Fd listenFd_;
    Fd spareFd_; // held in reserve for EMFILE, see dropOneConnection
    std::unique_ptr<Channel> channel_;
    NewConnectionCallback newConnection_;
};

/// TcpServer: the Acceptor in the base loop and the I/O loops of an
/// EventLoopThreadPool. A new connection goes round-robin to a loop, which
/// owns it from then on: each loop keeps the set of its own connections,
/// so closing one never crosses threads. Base loop thread only, except
/// where a method says otherwise.
#pragma once

#include <atomic>
#include <memory>
#include <unordered_set>
#include <vector>

#include "base/Fd.h"
#include "base/NonCopyable.h"
#include "net/Callbacks.h"
#include "net/TcpConnection.h"

class Acceptor;
class EventLoop;
class EventLoopThreadPool;
struct sockaddr_storage;

class TcpServer : NonCopyable
{
  public:
    TcpServer(EventLoop *baseLoop, Fd listenFd);
    ~TcpServer();

    /// Set before start(); each is called on the connection's own loop.
    void setConnectionCallback(ConnectionCallback cb)
    {
        connectionCallback_ = std::move(cb);
    }
    void setMessageCallback(MessageCallback cb)
    {
        messageCallback_ = std::move(cb);
    }
    void setWriteCompleteCallback(WriteCompleteCallback cb)
    {
        writeCompleteCallback_ = std::move(cb);
    }
    /// Called by stop() on each loop's thread once the loop's connections
    /// are closed, before the loop ends: what a user keeps in a loop beyond
    /// its connections (HttpServer's idle FastCGI connections) leaves
    /// epoll while the loop is still there.
    void setLoopStopCallback(std::function<void(EventLoop *)> cb)
    {
        loopStopCallback_ = std::move(cb);
    }
    /// The most unread bytes a connection holds (the largest request).
    void setInputLimit(size_t limit)
    {
        inputLimit_ = limit;
    }

    /// Starts ioThreads loops (0: the base loop serves connections too)
    /// and starts accepting.
    void start(int ioThreads);
    /// Takes the connections already waiting, then closes the listening
    /// socket: new clients are refused, and none that the kernel queued
    /// for us is reset (another server may share the port, SO_REUSEPORT).
    void stopAccepting();
    /// Accepts on listenFd from now on (a reload moved the listen address):
    /// the old socket's waiting connections are taken, then it is closed.
    /// Connections already open are not touched.
    void replaceListener(Fd listenFd);
    /// Raises the input limit of every connection, open or to come (after
    /// start). Only raised: a connection may still be reading a request
    /// that the old, larger limit let in.
    void raiseInputLimit(size_t limit);
    /// Runs fn on each live connection, on the connection's own loop.
    void forEachConnection(ConnectionCallback fn);
    /// Every loop that serves connections (after start).
    const std::vector<EventLoop *> &loops() const
    {
        return loops_;
    }
    /// Connections open now, on every loop. Any thread.
    int connectionCount() const
    {
        return connectionCount_.load();
    }
    /// Closes every connection still open and stops the I/O loops.
    void stop();

  private:
    // The connections one loop owns, and what they share; touched only on
    // that loop's thread once start() is done.
    struct LoopSlot {
        EventLoop *loop;
        std::unordered_set<TcpConnectionPtr> connections;
        TcpConnection::Shared shared;
    };

    void newConnection(Fd socket, const sockaddr_storage &peer);
    void establish(LoopSlot *slot, Fd socket, const sockaddr_storage &peer);
    LoopSlot *slotOf(EventLoop *loop);

    EventLoop *baseLoop_;
    std::unique_ptr<Acceptor> acceptor_;
    std::unique_ptr<EventLoopThreadPool> pool_;
    std::vector<EventLoop *> loops_;
    std::vector<std::unique_ptr<LoopSlot>> slots_; // one per loop
    std::atomic<int> connectionCount_{0};
    ConnectionCallback connectionCallback_;
    MessageCallback messageCallback_;
    WriteCompleteCallback writeCompleteCallback_;
    std::function<void(EventLoop *)> loopStopCallback_;
    size_t inputLimit_ = 1 << 20;
};

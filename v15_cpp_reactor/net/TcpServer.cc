// TcpServer: accepting, dispatching to a loop, and stopping.
#include "net/TcpServer.h"

#include <condition_variable>
#include <mutex>

#include "net/Acceptor.h"
#include "net/EventLoop.h"
#include "net/EventLoopThreadPool.h"
#include "net/Socket.h"
#include "net/TcpConnection.h"

TcpServer::TcpServer(EventLoop *baseLoop, Fd listenFd)
    : baseLoop_(baseLoop), acceptor_(std::make_unique<Acceptor>(
                               baseLoop, std::move(listenFd),
                               [this](Fd socket, const sockaddr_in &peer) {
                                   newConnection(std::move(socket), peer);
                               })),
      pool_(std::make_unique<EventLoopThreadPool>(baseLoop))
{
}

TcpServer::~TcpServer()
{
    stop();
}

void TcpServer::start(int ioThreads)
{
    pool_->start(ioThreads);
    loops_ = pool_->allLoops();
    for (size_t i = 0; i < loops_.size(); i++)
        sets_.push_back(std::make_unique<ConnectionSet>());
}

TcpServer::ConnectionSet *TcpServer::setOf(EventLoop *loop)
{
    for (size_t i = 0; i < loops_.size(); i++)
        if (loops_[i] == loop)
            return sets_[i].get();
    return nullptr;
}

void TcpServer::newConnection(Fd socket, const sockaddr_in &peer)
{
    Socket::setNoDelay(socket.get());
    EventLoop *loop = pool_->nextLoop();
    ConnectionSet *set = setOf(loop);
    connectionCount_++;
    if (loop == baseLoop_) {
        establish(loop, set, std::move(socket), peer);
        return;
    }
    // A functor must be copyable: the descriptor travels as a number and
    // is owned again on the other side.
    int fd = socket.release();
    loop->queueInLoop(
        [this, loop, set, fd, peer] { establish(loop, set, Fd(fd), peer); });
}

void TcpServer::establish(EventLoop *loop, ConnectionSet *set, Fd socket,
                          const sockaddr_in &peer)
{
    auto conn = std::make_shared<TcpConnection>(loop, std::move(socket), peer);
    set->insert(conn);
    conn->setCloseCallback([this, set](const TcpConnectionPtr &closed) {
        set->erase(closed);
        connectionCount_--;
    });
    conn->connectEstablished();
    if (connectionCallback_)
        connectionCallback_(conn);
    // One round through epoll_wait saved when the request came with the
    // connection; a readv that finds nothing costs less than that wake-up.
    conn->readNow();
}

void TcpServer::stopAccepting()
{
    baseLoop_->assertInLoopThread();
    acceptor_->close();
}

void TcpServer::forEachConnection(ConnectionCallback fn)
{
    for (size_t i = 0; i < loops_.size(); i++) {
        ConnectionSet *set = sets_[i].get();
        loops_[i]->runInLoop([set, fn] {
            // A copy: fn may close a connection, which erases it from set.
            std::vector<TcpConnectionPtr> conns(set->begin(), set->end());
            for (const TcpConnectionPtr &conn : conns)
                fn(conn);
        });
    }
}

void TcpServer::stop()
{
    if (loops_.empty())
        return;
    // Each loop closes its own connections, on its own thread, and the
    // caller waits until all have done so before the loops go away.
    std::mutex mutex;
    std::condition_variable done;
    size_t remaining = loops_.size();
    for (size_t i = 0; i < loops_.size(); i++) {
        ConnectionSet *set = sets_[i].get();
        auto closeAll = [set, &mutex, &done, &remaining] {
            std::vector<TcpConnectionPtr> conns(set->begin(), set->end());
            for (const TcpConnectionPtr &conn : conns)
                conn->forceClose();
            std::lock_guard<std::mutex> lock(mutex);
            remaining--;
            done.notify_one();
        };
        if (loops_[i] == baseLoop_)
            closeAll();
        else
            loops_[i]->runInLoop(closeAll);
    }
    {
        std::unique_lock<std::mutex> lock(mutex);
        done.wait(lock, [&remaining] { return remaining == 0; });
    }
    pool_->stop();
    loops_.clear();
    sets_.clear();
}

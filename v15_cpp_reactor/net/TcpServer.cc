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
                               [this](Fd socket, const sockaddr_storage &peer) {
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
    for (EventLoop *loop : loops_) {
        auto slot = std::make_unique<LoopSlot>();
        slot->loop = loop;
        slot->shared.onMessage = messageCallback_;
        slot->shared.onWriteComplete = writeCompleteCallback_;
        slot->shared.inputLimit = inputLimit_;
        LoopSlot *raw = slot.get();
        slot->shared.onClose = [this, raw](const TcpConnectionPtr &closed) {
            raw->connections.erase(closed);
            connectionCount_--;
        };
        slots_.push_back(std::move(slot));
    }
}

TcpServer::LoopSlot *TcpServer::slotOf(EventLoop *loop)
{
    for (const auto &slot : slots_)
        if (slot->loop == loop)
            return slot.get();
    return nullptr;
}

void TcpServer::newConnection(Fd socket, const sockaddr_storage &peer)
{
    Socket::setNoDelay(socket.get());
    LoopSlot *slot = slotOf(pool_->nextLoop());
    connectionCount_++;
    if (slot->loop == baseLoop_) {
        establish(slot, std::move(socket), peer);
        return;
    }
    // A functor must be copyable: the descriptor travels as a number and
    // is owned again on the other side.
    int fd = socket.release();
    slot->loop->queueInLoop(
        [this, slot, fd, peer] { establish(slot, Fd(fd), peer); });
}

void TcpServer::establish(LoopSlot *slot, Fd socket,
                          const sockaddr_storage &peer)
{
    auto conn = std::make_shared<TcpConnection>(slot->loop, std::move(socket),
                                                peer, slot->shared);
    slot->connections.insert(conn);
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
    acceptor_->closeAfterAccepting();
}

void TcpServer::replaceListener(Fd listenFd)
{
    baseLoop_->assertInLoopThread();
    auto replaced = std::move(acceptor_);
    acceptor_ = std::make_unique<Acceptor>(
        baseLoop_, std::move(listenFd),
        [this](Fd socket, const sockaddr_storage &peer) {
            newConnection(std::move(socket), peer);
        });
    replaced->closeAfterAccepting();
}

void TcpServer::raiseInputLimit(size_t limit)
{
    baseLoop_->assertInLoopThread();
    if (limit <= inputLimit_)
        return;
    inputLimit_ = limit;
    // Each slot's Shared is read by its own loop's connections only.
    for (const auto &slot : slots_) {
        LoopSlot *raw = slot.get();
        slot->loop->runInLoop([raw, limit] { raw->shared.inputLimit = limit; });
    }
}

void TcpServer::forEachConnection(ConnectionCallback fn)
{
    for (const auto &slot : slots_) {
        auto *set = &slot->connections;
        slot->loop->runInLoop([set, fn] {
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
    size_t remaining = slots_.size();
    for (const auto &slot : slots_) {
        auto *set = &slot->connections;
        EventLoop *loop = slot->loop;
        auto closeAll = [this, set, loop, &mutex, &done, &remaining] {
            std::vector<TcpConnectionPtr> conns(set->begin(), set->end());
            for (const TcpConnectionPtr &conn : conns)
                conn->forceClose();
            if (loopStopCallback_)
                loopStopCallback_(loop);
            std::lock_guard<std::mutex> lock(mutex);
            remaining--;
            done.notify_one();
        };
        if (slot->loop == baseLoop_)
            closeAll();
        else
            slot->loop->runInLoop(closeAll);
    }
    {
        std::unique_lock<std::mutex> lock(mutex);
        done.wait(lock, [&remaining] { return remaining == 0; });
    }
    pool_->stop();
    loops_.clear();
    slots_.clear();
}

// Acceptor: accept4(2) in a loop, and the spare-descriptor trick for when
// the process runs out of descriptors.
#include "net/Acceptor.h"

#include <fcntl.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include "base/Logger.h"
#include "net/Channel.h"
#include "net/EventLoop.h"

namespace
{
constexpr int kAcceptsPerWakeup = 64; // then the connections get a turn
}

Acceptor::Acceptor(EventLoop *loop, Fd listenFd, NewConnectionCallback cb)
    : loop_(loop), listenFd_(std::move(listenFd)),
      spareFd_(open("/dev/null", O_RDONLY | O_CLOEXEC)),
      channel_(std::make_unique<Channel>(loop, listenFd_.get())),
      newConnection_(std::move(cb))
{
    channel_->setReadCallback([this] { handleRead(); });
    channel_->enableReading();
}

Acceptor::~Acceptor()
{
    close();
}

void Acceptor::close()
{
    loop_->assertInLoopThread();
    if (!listenFd_)
        return;
    channel_->remove();
    listenFd_.reset();
}

void Acceptor::closeAfterAccepting()
{
    loop_->assertInLoopThread();
    bool accepted = true;
    while (accepted) // until accept fails, EAGAIN once the queue is empty
        accepted = acceptOne();
    close();
}

bool Acceptor::acceptOne()
{
    sockaddr_storage peer = {};
    socklen_t len = sizeof peer;
    int fd =
        accept4(listenFd_.get(), reinterpret_cast<struct sockaddr *>(&peer),
                &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0)
        return false;
    newConnection_(Fd(fd), peer);
    return true;
}

void Acceptor::handleRead()
{
    for (int i = 0; i < kAcceptsPerWakeup && listenFd_; i++) {
        if (acceptOne())
            continue;
        // The client gave up between its SYN and our accept: take the next.
        if (errno == ECONNABORTED || errno == EINTR)
            continue;
        if (errno == EMFILE || errno == ENFILE)
            dropOneConnection();
        else if (errno != EAGAIN)
            Log::error("accept: %s", strerror(errno));
        return;
    }
}

// Out of descriptors, accept fails and the connection stays queued, where
// level-triggered epoll reports it again at once: a busy loop. The spare
// descriptor breaks it: free it, accept the connection and close it (the
// client sees its connection end rather than hang), take the spare back.
void Acceptor::dropOneConnection()
{
    Log::error("accept: %s: dropping a connection", strerror(errno));
    spareFd_.reset();
    Fd dropped(accept(listenFd_.get(), nullptr, nullptr));
    dropped.reset();
    spareFd_.reset(open("/dev/null", O_RDONLY | O_CLOEXEC));
}

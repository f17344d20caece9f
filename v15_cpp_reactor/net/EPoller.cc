// EPoller: epoll_wait and epoll_ctl behind three calls. Level-triggered, as
// redis and muduo chose: a callback that reads only part of what arrived is
// called again, so no handler has to loop until EAGAIN to stay correct.
#include "net/EPoller.h"

#include <cerrno>
#include <cstring>

#include "base/Logger.h"
#include "net/Channel.h"

namespace
{
constexpr size_t kInitialEvents = 64;
}

EPoller::EPoller()
    : epollFd_(epoll_create1(EPOLL_CLOEXEC)), events_(kInitialEvents)
{
    if (!epollFd_)
        Log::error("epoll_create1: %s", strerror(errno));
}

void EPoller::poll(int timeoutMs, std::vector<Channel *> &active)
{
    int n = epoll_wait(epollFd_.get(), events_.data(),
                       static_cast<int>(events_.size()), timeoutMs);
    if (n < 0) {
        if (errno != EINTR)
            Log::error("epoll_wait: %s", strerror(errno));
        return;
    }
    for (int i = 0; i < n; i++) {
        auto *channel = static_cast<Channel *>(events_[i].data.ptr);
        channel->setRevents(events_[i].events);
        active.push_back(channel);
    }
    // A full array means more may be ready: take more next time.
    if (static_cast<size_t>(n) == events_.size())
        events_.resize(events_.size() * 2);
}

void EPoller::control(int op, Channel *channel)
{
    struct epoll_event ev = {};
    ev.events = channel->events();
    ev.data.ptr = channel;
    if (epoll_ctl(epollFd_.get(), op, channel->fd(), &ev) < 0)
        Log::error("epoll_ctl fd %d: %s", channel->fd(), strerror(errno));
}

void EPoller::updateChannel(Channel *channel)
{
    if (!channel->inPoller()) {
        if (channel->events() == 0)
            return;
        control(EPOLL_CTL_ADD, channel);
        channel->setInPoller(true);
    } else if (channel->events() == 0) {
        control(EPOLL_CTL_DEL, channel);
        channel->setInPoller(false);
    } else {
        control(EPOLL_CTL_MOD, channel);
    }
}

void EPoller::removeChannel(Channel *channel)
{
    if (channel->inPoller()) {
        control(EPOLL_CTL_DEL, channel);
        channel->setInPoller(false);
    }
}

/// EPoller: the epoll(7) set of one EventLoop, level-triggered. Loop
/// thread only; owned by its EventLoop.
#pragma once

#include <sys/epoll.h>

#include <vector>

#include "base/Fd.h"
#include "base/NonCopyable.h"

class Channel;

class EPoller : NonCopyable
{
  public:
    EPoller();

    /// Waits up to timeoutMs (-1: no limit) and appends the channels that
    /// are ready, their revents set, to active.
    void poll(int timeoutMs, std::vector<Channel *> &active);
    void updateChannel(Channel *channel);
    void removeChannel(Channel *channel);

  private:
    void control(int op, Channel *channel);

    Fd epollFd_;
    std::vector<struct epoll_event> events_;
};

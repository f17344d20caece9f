// Channel: dispatches what epoll reported for one descriptor to the
// callbacks its owner set.
#include "net/Channel.h"

#include <cassert>

#include "net/EventLoop.h"

Channel::Channel(EventLoop *loop, int fd) : loop_(loop), fd_(fd) {}

Channel::~Channel()
{
    // The loop's batch may still name a channel that was never removed.
    assert(!addedToLoop_ && "remove() the channel before destroying it");
}

void Channel::tie(const std::shared_ptr<void> &owner)
{
    owner_ = owner;
    tied_ = true;
}

void Channel::update(uint32_t events)
{
    // Level-triggered: an unchanged interest needs no epoll_ctl(2), and on
    // the hot path most updates change nothing.
    if (events == events_ && inPoller_ == (events != 0))
        return;
    events_ = events;
    addedToLoop_ = true;
    loop_->updateChannel(this);
}

void Channel::remove()
{
    if (!addedToLoop_)
        return;
    addedToLoop_ = false;
    events_ = 0;
    loop_->removeChannel(this);
}

void Channel::handleEvent()
{
    if (!tied_) {
        handleEventGuarded();
        return;
    }
    // The owner may be released by one of its own callbacks (a close); the
    // lock keeps it, and so this channel, alive until the dispatch ends.
    std::shared_ptr<void> guard = owner_.lock();
    if (guard)
        handleEventGuarded();
}

void Channel::handleEventGuarded()
{
    const uint32_t revents = revents_;
    // EPOLLHUP without EPOLLIN: the peer is gone and nothing is left to
    // read. With EPOLLIN there may still be bytes, so read first: read()
    // then returns them, and 0 or an error after them.
    if ((revents & EPOLLHUP) && !(revents & EPOLLIN) && closeCallback_) {
        closeCallback_();
        return;
    }
    if ((revents & (EPOLLIN | EPOLLPRI | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) &&
        readCallback_)
        readCallback_();
    // The read callback may have closed the descriptor (events_ is 0 then).
    if ((revents & (EPOLLOUT | EPOLLERR)) && (events_ & EPOLLOUT) &&
        writeCallback_)
        writeCallback_();
}

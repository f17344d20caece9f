// TcpConnection: reading into the input Buffer, writing the output Buffer
// and then a file range, and closing without losing the last response.
#include "net/TcpConnection.h"

#include <sys/sendfile.h>
#include <sys/socket.h>

#include <cassert>
#include <cerrno>

#include "net/Channel.h"
#include "net/EventLoop.h"
#include "net/Socket.h"

namespace
{
constexpr int64_t kLingerMs = 1000;    // how long a closing socket drains
constexpr size_t kLingerBytes = 65536; // and how much it reads and drops
} // namespace

TcpConnection::TcpConnection(EventLoop *loop, Fd socket,
                             const sockaddr_in &peer)
    : loop_(loop), socket_(std::move(socket)),
      channel_(std::make_unique<Channel>(loop, socket_.get())),
      peerAddress_(Socket::addressText(peer)),
      lastProgressMs_(loop->pollReturnMs())
{
    channel_->setReadCallback([this] { handleRead(); });
    channel_->setWriteCallback([this] { handleWrite(); });
    channel_->setCloseCallback([this] { handleClose(); });
}

TcpConnection::~TcpConnection()
{
    assert(state_ == kClosed);
}

void TcpConnection::connectEstablished()
{
    loop_->assertInLoopThread();
    channel_->tie(shared_from_this());
    channel_->enableReading();
}

void TcpConnection::readNow()
{
    if (state_ == kConnected)
        handleRead();
}

void TcpConnection::send(std::string_view data)
{
    loop_->assertInLoopThread();
    if (state_ != kConnected)
        return;
    output_.append(data);
    if (!channel_->isWriting() && !writeSome())
        handleClose();
}

void TcpConnection::sendFile(std::shared_ptr<Fd> file, off_t offset, off_t len)
{
    loop_->assertInLoopThread();
    assert(!file_ && "one file at a time: wait for write completion");
    if (state_ != kConnected)
        return;
    file_ = std::move(file);
    fileOffset_ = offset;
    fileEnd_ = offset + len;
    if (!channel_->isWriting() && !writeSome())
        handleClose();
}

bool TcpConnection::hasPendingOutput() const
{
    return output_.readableBytes() > 0 || file_ != nullptr;
}

bool TcpConnection::writeSome()
{
    while (output_.readableBytes() > 0) {
        ssize_t n =
            ::write(socket_.get(), output_.peek(), output_.readableBytes());
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            break;
        if (n < 0)
            return false; // EPIPE, ECONNRESET: the peer is gone
        output_.retrieve(static_cast<size_t>(n));
        lastProgressMs_ = loop_->pollReturnMs();
    }
    // sendfile(2) on a non-blocking socket sends what fits and moves
    // fileOffset_, where the next call resumes.
    while (output_.readableBytes() == 0 && file_ && fileOffset_ < fileEnd_) {
        ssize_t n = sendfile(socket_.get(), file_->get(), &fileOffset_,
                             static_cast<size_t>(fileEnd_ - fileOffset_));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            break;
        if (n <= 0)
            return false; // an error, or the file shrank under us
        lastProgressMs_ = loop_->pollReturnMs();
    }
    if (file_ && fileOffset_ >= fileEnd_)
        file_.reset();
    if (hasPendingOutput()) {
        channel_->enableWriting(); // EPOLLOUT says when to go on
        return true;
    }
    output_.releaseIfEmpty();
    channel_->disableWriting();
    return true;
}

void TcpConnection::handleRead()
{
    if (state_ == kLingering) {
        char sink[4096];
        ssize_t n = ::read(socket_.get(), sink, sizeof sink);
        if (n > 0)
            lingered_ += static_cast<size_t>(n);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR) ||
            lingered_ > kLingerBytes)
            handleClose();
        return;
    }
    if (state_ != kConnected)
        return; // draining: what comes after the last request is not read
    size_t held = input_.readableBytes();
    ssize_t n = input_.readFd(socket_.get(),
                              held < inputLimit_ ? inputLimit_ - held : 0);
    if (n > 0) {
        lastProgressMs_ = loop_->pollReturnMs();
        messageCallback_(shared_from_this(), &input_);
        if (input_.readableBytes() == 0)
            input_.releaseIfEmpty(); // an idle connection holds no buffer
    } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
        handleClose(); // closed or reset: nobody is left to answer
    }
}

void TcpConnection::handleWrite()
{
    if (!channel_->isWriting())
        return;
    if (!writeSome()) {
        handleClose();
        return;
    }
    if (hasPendingOutput())
        return;
    if (state_ == kDraining)
        outputDone();
    else if (state_ == kConnected && writeCompleteCallback_)
        writeCompleteCallback_(shared_from_this());
}

void TcpConnection::stopReading()
{
    if (state_ == kConnected)
        channel_->disableReading();
}

void TcpConnection::startReading()
{
    if (state_ == kConnected)
        channel_->enableReading();
}

void TcpConnection::shutdown()
{
    loop_->assertInLoopThread();
    if (state_ != kConnected)
        return;
    state_ = kDraining;
    lingerWhenSent_ = true;
    if (!hasPendingOutput())
        outputDone();
}

void TcpConnection::closeWhenSent()
{
    loop_->assertInLoopThread();
    if (state_ != kConnected)
        return;
    state_ = kDraining;
    // Unread bytes in the kernel's queue would turn close into a reset.
    lingerWhenSent_ = input_.readableBytes() > 0;
    if (!hasPendingOutput())
        outputDone();
}

void TcpConnection::outputDone()
{
    if (lingerWhenSent_)
        startLingering();
    else
        handleClose();
}

// Closing a socket whose receive queue holds data sends a reset that can
// destroy our last response before the client reads it (RFC 9112 9.6).
// So: send our FIN, then read and drop what still comes, for a moment.
void TcpConnection::startLingering()
{
    ::shutdown(socket_.get(), SHUT_WR);
    state_ = kLingering;
    channel_->disableWriting();
    channel_->enableReading();
    std::weak_ptr<TcpConnection> weak = shared_from_this();
    lingerTimer_ = loop_->runAfter(kLingerMs, [weak] {
        if (auto self = weak.lock())
            self->handleClose();
    });
}

void TcpConnection::forceClose()
{
    loop_->assertInLoopThread();
    handleClose();
}

void TcpConnection::handleClose()
{
    if (state_ == kClosed)
        return;
    state_ = kClosed;
    loop_->cancel(lingerTimer_);
    channel_->remove();
    file_.reset();
    // Keep ourselves alive through the callback, which drops the server's
    // reference; the destructor then runs when this call returns.
    TcpConnectionPtr self = shared_from_this();
    if (closeCallback_)
        closeCallback_(self);
}

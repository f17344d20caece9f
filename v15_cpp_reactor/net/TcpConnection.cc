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
constexpr int64_t kLingerMs = 1000; // how long a closing socket drains
constexpr size_t kLingerBytes = 65536; // and how much it reads and drops
} // namespace

// The channel is made from the parameter: members start in declaration
// order, and socket_ comes after channel_.
TcpConnection::TcpConnection(EventLoop *loop, Fd socket,
                             const sockaddr_storage &peer, const Shared &shared)
    : loop_(loop), shared_(shared), lastProgressMs_(loop->pollReturnMs()),
      channel_(loop, socket.get()), socket_(std::move(socket)),
      peerAddress_(Socket::addressText(peer))
{
    channel_.setReadCallback([this] { handleRead(); });
    channel_.setWriteCallback([this] { handleWrite(); });
    channel_.setCloseCallback([this] { handleClose(); });
}

TcpConnection::~TcpConnection()
{
    assert(state_ == kClosed);
}

void TcpConnection::connectEstablished()
{
    loop_->assertInLoopThread();
    channel_.tie(shared_from_this());
    channel_.enableReading();
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
    io().output.append(data);
    if (!channel_.isWriting() && !writeSome())
        handleClose();
}

void TcpConnection::sendFile(std::string_view head, std::shared_ptr<Fd> file,
                             off_t offset, off_t len)
{
    loop_->assertInLoopThread();
    Io &b = io();
    assert(!b.file && "one file at a time: wait for write completion");
    if (state_ != kConnected)
        return;
    b.output.append(head);
    b.file = std::move(file);
    b.fileOffset = offset;
    b.fileEnd = offset + len;
    if (!channel_.isWriting() && !writeSome())
        handleClose();
}

bool TcpConnection::hasPendingOutput() const
{
    return io_ && (io_->output.readableBytes() > 0 || io_->file != nullptr);
}

namespace
{
// Buffers given back by idle connections, kept for the next busy one so
// that a request costs no allocation for them. One list per thread, so per
// loop, and bounded; a buffer grown large is not kept.
constexpr size_t kMaxSpareIo = 256;
constexpr size_t kMaxSpareCapacity = 16384;
} // namespace

TcpConnection::Io &TcpConnection::io()
{
    if (!io_) {
        auto &spare = spareIo();
        if (spare.empty()) {
            io_ = std::make_unique<Io>();
        } else {
            io_ = std::move(spare.back());
            spare.pop_back();
        }
    }
    return *io_;
}

void TcpConnection::releaseIoIfIdle()
{
    if (!io_ || io_->input.readableBytes() > 0)
        return;
    if (hasPendingOutput()) { // a slow reader: keep the output only
        io_->input.releaseIfEmpty();
        return;
    }
    auto &spare = spareIo();
    if (spare.size() < kMaxSpareIo &&
        io_->input.capacity() <= kMaxSpareCapacity &&
        io_->output.capacity() <= kMaxSpareCapacity)
        spare.push_back(std::move(io_));
    io_.reset();
}

std::vector<std::unique_ptr<TcpConnection::Io>> &TcpConnection::spareIo()
{
    thread_local std::vector<std::unique_ptr<Io>> spare;
    return spare;
}

bool TcpConnection::writeSome()
{
    Io &b = io();
    // With a file to follow, MSG_MORE holds the head back until the file's
    // first bytes join it (tcp(7), like TCP_CORK for one call): one packet
    // and one wake-up of the client less per response.
    int flags = b.file ? MSG_MORE : 0;
    while (b.output.readableBytes() > 0) {
        ssize_t n = ::send(socket_.get(), b.output.peek(),
                           b.output.readableBytes(), flags);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            break;
        if (n < 0)
            return false; // EPIPE, ECONNRESET: the peer is gone
        b.output.retrieve(static_cast<size_t>(n));
        lastProgressMs_ = loop_->pollReturnMs();
    }
    // sendfile(2) on a non-blocking socket sends what fits and moves
    // b.fileOffset, where the next call resumes.
    while (b.output.readableBytes() == 0 && b.file &&
           b.fileOffset < b.fileEnd) {
        ssize_t n = sendfile(socket_.get(), b.file->get(), &b.fileOffset,
                             static_cast<size_t>(b.fileEnd - b.fileOffset));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            break;
        if (n <= 0)
            return false; // an error, or the file shrank under us
        lastProgressMs_ = loop_->pollReturnMs();
    }
    if (b.file && b.fileOffset >= b.fileEnd)
        b.file.reset();
    if (hasPendingOutput()) {
        channel_.enableWriting(); // EPOLLOUT says when to go on
        return true;
    }
    channel_.disableWriting();
    return true;
}

void TcpConnection::handleRead()
{
    if (state_ == kLingering) {
        char sink[4096];
        ssize_t n = ::read(socket_.get(), sink, sizeof sink);
        if (n > 0)
            lingered_ += static_cast<uint32_t>(n);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR) ||
            lingered_ > kLingerBytes)
            handleClose();
        return;
    }
    if (state_ != kConnected)
        return; // draining: what comes after the last request is not read
    Buffer &input = io().input;
    size_t held = input.readableBytes();
    size_t limit = shared_.inputLimit;
    if (held >= limit) {
        // Full: the protocol is busy (a script, a slow reader) and the
        // client keeps sending. Stop reading until it has consumed some;
        // level-triggered epoll would otherwise report the bytes forever.
        channel_.disableReading();
        return;
    }
    ssize_t n = input.readFd(socket_.get(), limit - held);
    if (n > 0) {
        lastProgressMs_ = loop_->pollReturnMs();
        shared_.onMessage(shared_from_this(), &input);
        releaseIoIfIdle(); // an idle connection holds no buffer
    } else if (n == 0) {
        handlePeerShutdown();
    } else if (errno != EAGAIN && errno != EINTR) {
        handleClose(); // reset: nobody is left to answer
    }
}

// End of file says only that the peer will send nothing more: it may have
// shut down its sending half (shutdown(2), SHUT_WR) and still be reading.
// What it asked for is still owed; the protocol layer sees peerShutDown()
// and closes once it has answered (RFC 9112 section 9.6). A peer that is
// really gone turns our next write into a reset, and that closes.
void TcpConnection::handlePeerShutdown()
{
    peerShutDown_ = true;
    channel_.disableReading(); // level-triggered: EOF would be reported again
    shared_.onMessage(shared_from_this(), &io().input);
    releaseIoIfIdle();
}

void TcpConnection::handleWrite()
{
    if (!channel_.isWriting())
        return;
    if (!writeSome()) {
        handleClose();
        return;
    }
    if (hasPendingOutput())
        return;
    releaseIoIfIdle();
    if (state_ == kDraining)
        outputDone();
    else if (state_ == kConnected && shared_.onWriteComplete)
        shared_.onWriteComplete(shared_from_this());
}

void TcpConnection::stopReading()
{
    if (state_ == kConnected)
        channel_.disableReading();
}

void TcpConnection::startReading()
{
    if (state_ == kConnected && !peerShutDown_)
        channel_.enableReading();
}

void TcpConnection::shutdown()
{
    loop_->assertInLoopThread();
    if (state_ != kConnected)
        return;
    state_ = kDraining;
    lingerWhenSent_ = true;
    // Nothing more is read until the output is out: level-triggered epoll
    // would report the unread bytes again and again.
    channel_.disableReading();
    if (!hasPendingOutput())
        outputDone();
}

void TcpConnection::closeWhenSent()
{
    loop_->assertInLoopThread();
    if (state_ != kConnected)
        return;
    state_ = kDraining;
    // Bytes we hold unread mean the client did send more: closing with
    // such bytes in the kernel's queue would turn our FIN into a reset.
    // After its FIN, nothing more can come.
    lingerWhenSent_ = !peerShutDown_ && io_ && io_->input.readableBytes() > 0;
    channel_.disableReading(); // as in shutdown()
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
    channel_.disableWriting();
    channel_.enableReading();
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
    channel_.remove();
    if (io_)
        io_->file.reset(); // not io_ itself: a caller may hold its input
    // Keep ourselves alive through the callback, which drops the server's
    // reference; the destructor then runs when this call returns.
    TcpConnectionPtr self = shared_from_this();
    if (shared_.onClose)
        shared_.onClose(self);
}

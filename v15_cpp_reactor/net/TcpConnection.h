/// TcpConnection: one accepted connection, owned by shared_ptr because a
/// callback queued on the loop may outlive the close; everything else holds
/// it by weak_ptr. It lives in one EventLoop and is touched only on that
/// loop's thread. Output is a byte Buffer, then at most one file range sent
/// with sendfile(2) once the bytes before it are out.
#pragma once

#include <netinet/in.h>
#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/Fd.h"
#include "base/NonCopyable.h"
#include "net/Buffer.h"
#include "net/Callbacks.h"
#include "net/Channel.h"
#include "net/ConnectionContext.h"
#include "net/TimerId.h"

class EventLoop;

class TcpConnection : NonCopyable,
                      public std::enable_shared_from_this<TcpConnection>
{
  public:
    /// What all the connections of one loop share, kept once rather than
    /// in each of them: ten thousand idle connections would otherwise hold
    /// ten thousand copies of the same callbacks.
    struct Shared {
        MessageCallback onMessage;
        WriteCompleteCallback onWriteComplete; // after output had to wait
        CloseCallback onClose;
        size_t inputLimit = 1 << 20; // unread bytes held at most
    };

    /// shared must outlive the connection.
    TcpConnection(EventLoop *loop, Fd socket, const sockaddr_storage &peer,
                  const Shared &shared);
    ~TcpConnection();

    EventLoop *loop() const
    {
        return loop_;
    }
    /// The peer's address as text ("127.0.0.1", "::1").
    std::string_view peerAddress() const
    {
        return peerAddress_;
    }
    /// Still taking requests: not closing, not closed.
    bool connected() const
    {
        return state_ == kConnected;
    }
    bool closed() const
    {
        return state_ == kClosed;
    }
    /// The peer has sent its FIN: nothing more will arrive, though it may
    /// still read what it is owed.
    bool peerShutDown() const
    {
        return peerShutDown_;
    }

    /// Queues bytes; writes at once when nothing is waiting before them.
    void send(std::string_view data);
    /// Queues head, then len bytes of file from offset (sendfile). The
    /// connection keeps the descriptor open until they are sent.
    void sendFile(std::string_view head, std::shared_ptr<Fd> file, off_t offset,
                  off_t len);
    /// Bytes and file still to be written.
    bool hasPendingOutput() const;
    size_t outputBytes() const
    {
        return io_ ? io_->output.readableBytes() : 0;
    }

    /// Half-closes (FIN) once the output is out, then reads and drops what
    /// the peer still sends for a moment before closing, so that a reset
    /// cannot destroy the last response in the peer's receive queue.
    void shutdown();
    /// Closes once the output is out, without lingering: for a peer that
    /// said it will send nothing more, and whose bytes have all been read.
    void closeWhenSent();
    /// Closes now, dropping unsent output.
    void forceClose();

    /// What has arrived and is not consumed yet; the protocol layer
    /// retrieves what it has answered.
    Buffer &inputBuffer()
    {
        return io().input;
    }

    /// When bytes last moved either way (EventLoop::pollReturnMs's clock).
    int64_t lastProgressMs() const
    {
        return lastProgressMs_;
    }

    /// Stops and restarts reading: backpressure while a reply is produced.
    void stopReading();
    void startReading();

    /// What the protocol layer keeps per connection (the HTTP session),
    /// owned by the connection and destroyed with it, on its loop's thread.
    void setContext(std::unique_ptr<ConnectionContext> context)
    {
        context_ = std::move(context);
    }
    ConnectionContext *context() const
    {
        return context_.get();
    }

    /// Called once by the server, on the loop thread, after construction.
    void connectEstablished();
    /// Reads what has arrived without waiting for epoll to say so: a
    /// client's first request is often there by the time we accept.
    void readNow();

  private:
    enum State : uint8_t { kConnected, kDraining, kLingering, kClosed };

    /// The buffers and the file range, only while bytes are on their way:
    /// an idle connection gives them back (releaseIoIfIdle), so it costs
    /// its few fields and nothing more.
    struct Io {
        Buffer input;
        Buffer output;
        std::shared_ptr<Fd> file; // sent after output, if set
        off_t fileOffset = 0;
        off_t fileEnd = 0;
    };
    /// Made on first use.
    Io &io();
    /// Called only from the event handlers, never inside a callback that
    /// may hold a reference into the buffers.
    void releaseIoIfIdle();
    static std::vector<std::unique_ptr<Io>> &spareIo();

    void handleRead();
    void handlePeerShutdown();
    void handleWrite();
    void handleClose();
    /// Writes what the socket takes; false if the connection failed.
    bool writeSome();
    void startLingering();
    void outputDone();

    // Ordered by size, so the padding between members stays small.
    EventLoop *loop_;
    const Shared &shared_;
    std::unique_ptr<ConnectionContext> context_;
    std::unique_ptr<Io> io_;
    int64_t lastProgressMs_ = 0;
    TimerId lingerTimer_;
    Channel channel_;
    Fd socket_;
    uint32_t lingered_ = 0;
    State state_ = kConnected;
    bool peerShutDown_ = false; // read() returned 0
    bool lingerWhenSent_ = true; // in kDraining: linger, or close at once
    std::string peerAddress_;
};

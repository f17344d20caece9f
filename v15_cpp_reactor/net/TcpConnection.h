/// TcpConnection: one accepted connection, owned by shared_ptr because a
/// callback queued on the loop may outlive the close; everything else holds
/// it by weak_ptr. It lives in one EventLoop and is touched only on that
/// loop's thread. Output is a byte Buffer, then at most one file range sent
/// with sendfile(2) once the bytes before it are out.
#pragma once

#include <netinet/in.h>
#include <sys/types.h>

#include <memory>
#include <string>
#include <string_view>

#include "base/Fd.h"
#include "base/NonCopyable.h"
#include "net/Buffer.h"
#include "net/Callbacks.h"
#include "net/TimerId.h"

class Channel;
class EventLoop;

class TcpConnection : NonCopyable,
                      public std::enable_shared_from_this<TcpConnection>
{
  public:
    TcpConnection(EventLoop *loop, Fd socket, const sockaddr_in &peer);
    ~TcpConnection();

    EventLoop *loop() const
    {
        return loop_;
    }
    /// The peer's IPv4 address as text ("127.0.0.1").
    const std::string &peerAddress() const
    {
        return peerAddress_;
    }
    bool connected() const
    {
        return state_ == kConnected;
    }

    /// Queues bytes; writes at once when nothing is waiting before them.
    void send(std::string_view data);
    /// Queues len bytes of file from offset, after the bytes already queued.
    /// The connection keeps the descriptor open until they are sent.
    void sendFile(std::shared_ptr<Fd> file, off_t offset, off_t len);
    /// Bytes and file still to be written.
    bool hasPendingOutput() const;
    size_t outputBytes() const
    {
        return output_.readableBytes();
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
        return input_;
    }

    /// The most bytes the input buffer may hold (the largest request).
    void setInputLimit(size_t limit)
    {
        inputLimit_ = limit;
    }
    /// When bytes last moved either way (EventLoop::pollReturnMs's clock).
    int64_t lastProgressMs() const
    {
        return lastProgressMs_;
    }

    /// Stops and restarts reading: backpressure while a reply is produced.
    void stopReading();
    void startReading();

    /// What the protocol layer keeps per connection (the HTTP state),
    /// destroyed with the connection, on its loop's thread.
    void setContext(std::shared_ptr<void> context)
    {
        context_ = std::move(context);
    }
    void *context() const
    {
        return context_.get();
    }

    void setMessageCallback(MessageCallback cb)
    {
        messageCallback_ = std::move(cb);
    }
    void setWriteCompleteCallback(WriteCompleteCallback cb)
    {
        writeCompleteCallback_ = std::move(cb);
    }
    void setCloseCallback(CloseCallback cb)
    {
        closeCallback_ = std::move(cb);
    }

    /// Called once by the server, on the loop thread, after construction.
    void connectEstablished();
    /// Reads what has arrived without waiting for epoll to say so: a
    /// client's first request is often there by the time we accept.
    void readNow();

  private:
    enum State { kConnected, kDraining, kLingering, kClosed };

    void handleRead();
    void handleWrite();
    void handleClose();
    /// Writes what the socket takes; false if the connection failed.
    bool writeSome();
    void startLingering();
    void outputDone();

    EventLoop *loop_;
    Fd socket_;
    std::unique_ptr<Channel> channel_;
    std::string peerAddress_;
    State state_ = kConnected;
    Buffer input_;
    Buffer output_;
    std::shared_ptr<Fd> file_; // sent after output_, if set
    off_t fileOffset_ = 0;
    off_t fileEnd_ = 0;
    bool lingerWhenSent_ = true; // in kDraining: linger, or close at once
    size_t lingered_ = 0;
    size_t inputLimit_ = 1 << 20;
    int64_t lastProgressMs_ = 0;
    TimerId lingerTimer_;
    std::shared_ptr<void> context_;
    MessageCallback messageCallback_;
    WriteCompleteCallback writeCompleteCallback_;
    CloseCallback closeCallback_;
};

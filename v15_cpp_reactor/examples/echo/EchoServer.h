/// EchoServer: the course's echo protocol on the reactor. Every byte that
/// arrives goes back with a-z upper-cased; once the client has half-closed
/// and everything it is owed is sent, the connection closes.
#pragma once

#include "base/Fd.h"
#include "base/NonCopyable.h"
#include "net/TcpServer.h"

class EventLoop;

class EchoServer : NonCopyable
{
  public:
    EchoServer(EventLoop *loop, Fd listenFd);

    /// Accepts in loop, serves connections in ioThreads more loops (0:
    /// loop serves them too).
    void start(int ioThreads);
    /// Closes every connection and stops the I/O loops.
    void stop();

  private:
    void onMessage(const TcpConnectionPtr &conn, Buffer *input);
    void onWriteComplete(const TcpConnectionPtr &conn);

    TcpServer server_;
};

// EchoServer: two callbacks on TcpServer are the whole protocol.
#include "examples/echo/EchoServer.h"

#include "net/Buffer.h"
#include "net/TcpConnection.h"

namespace
{
// A client that sends and never reads would make us hold its echo without
// bound: past this much unsent, we stop reading it until it catches up.
constexpr size_t kHighWaterBytes = 1 << 20;
} // namespace

EchoServer::EchoServer(EventLoop *loop, Fd listenFd)
    : server_(loop, std::move(listenFd))
{
    server_.setMessageCallback(
        [this](const TcpConnectionPtr &conn, Buffer *input) {
            onMessage(conn, input);
        });
    server_.setWriteCompleteCallback(
        [this](const TcpConnectionPtr &conn) { onWriteComplete(conn); });
}

void EchoServer::start(int ioThreads)
{
    server_.start(ioThreads);
}

void EchoServer::stop()
{
    server_.stop();
}

// Called on the connection's loop when bytes came, and once more when the
// client half-closed (peerShutDown()).
void EchoServer::onMessage(const TcpConnectionPtr &conn, Buffer *input)
{
    char *bytes = input->content();
    for (size_t i = 0; i < input->readableBytes(); i++)
        if (bytes[i] >= 'a' && bytes[i] <= 'z')
            bytes[i] = static_cast<char>(bytes[i] - 'a' + 'A');
    if (input->readableBytes() > 0) // none after a half-close
        conn->send(input->view());
    input->retrieveAll();
    if (conn->peerShutDown())
        conn->closeWhenSent(); // nothing more will come: finish, then close
    else if (conn->outputBytes() > kHighWaterBytes)
        conn->stopReading();
}

// The output had to wait for the client, and is all sent now.
void EchoServer::onWriteComplete(const TcpConnectionPtr &conn)
{
    conn->startReading();
}

// BufferTest: the Buffer's regions, growth, release, and readFd's readv
// into the buffer plus the stack area.
#include <sys/socket.h>
#include <unistd.h>

#include <string>

#include "net/Buffer.h"
#include "tests/Check.h"

namespace
{

void appendAndRetrieve()
{
    Buffer buf;
    CHECK_EQ(buf.readableBytes(), size_t(0));
    buf.append("hello, ");
    buf.append("world");
    CHECK_EQ(std::string(buf.view()), std::string("hello, world"));
    buf.retrieve(7);
    CHECK_EQ(std::string(buf.view()), std::string("world"));
    buf.retrieve(100); // more than there is: all of it
    CHECK_EQ(buf.readableBytes(), size_t(0));
}

// An empty body is a string_view{} with no data pointer, and a released
// buffer has no storage: appending it must not hand memcpy a null pointer.
void appendingNothingIsANoOp()
{
    Buffer buf;
    buf.append(std::string_view());
    CHECK_EQ(buf.readableBytes(), size_t(0));
    buf.append("x");
    buf.append(nullptr, 0);
    CHECK_EQ(std::string(buf.view()), std::string("x"));
}

void growsAndKeepsContent()
{
    Buffer buf;
    std::string expected;
    for (int i = 0; i < 10000; i++) {
        std::string piece = std::to_string(i) + ",";
        buf.append(piece);
        expected += piece;
        if (i % 7 == 0) { // retrieve some, so compaction happens too
            buf.retrieve(3);
            expected.erase(0, 3);
        }
    }
    CHECK_EQ(std::string(buf.view()), expected);
}

void releaseOnlyWhenEmpty()
{
    Buffer buf;
    buf.append("x");
    buf.releaseIfEmpty();
    CHECK_EQ(std::string(buf.view()), std::string("x"));
    buf.retrieveAll();
    buf.releaseIfEmpty();
    CHECK_EQ(buf.writableBytes(), size_t(0)); // no storage held
    buf.append("again");
    CHECK_EQ(std::string(buf.view()), std::string("again"));
}

// More than the buffer holds arrives at once: what does not fit goes into
// the stack area and is appended, so nothing is lost or reordered.
void readFdTakesMoreThanTheBufferHolds()
{
    int fds[2];
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, fds) == 0);
    std::string sent;
    for (int i = 0; i < 20000; i++)
        sent += char('a' + i % 26);
    CHECK(write(fds[1], sent.data(), sent.size()) ==
          static_cast<ssize_t>(sent.size()));
    Buffer buf;
    buf.append("head:");
    std::string expected = "head:" + sent;
    while (buf.readableBytes() < expected.size())
        if (buf.readFd(fds[0], 1 << 20) <= 0)
            break;
    CHECK_EQ(std::string(buf.view()), expected);
    close(fds[0]);
    close(fds[1]);
}

void readFdObeysItsLimit()
{
    int fds[2];
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, fds) == 0);
    CHECK(write(fds[1], "0123456789", 10) == 10);
    Buffer buf;
    CHECK_EQ(buf.readFd(fds[0], 4), ssize_t(4));
    CHECK_EQ(std::string(buf.view()), std::string("0123"));
    // A limit of 0 is an error, never a read of 0 bytes that looks like EOF.
    CHECK_EQ(buf.readFd(fds[0], 0), ssize_t(-1));
    close(fds[0]);
    close(fds[1]);
}

} // namespace

int main()
{
    appendAndRetrieve();
    appendingNothingIsANoOp();
    growsAndKeepsContent();
    releaseOnlyWhenEmpty();
    readFdTakesMoreThanTheBufferHolds();
    readFdObeysItsLimit();
    return check::result("BufferTest");
}

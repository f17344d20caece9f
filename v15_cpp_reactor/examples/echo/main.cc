// main: the echo server's command line, its listening socket, and a stop
// on SIGTERM or SIGINT read from a signalfd in the accepting loop.
#include <getopt.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "base/Fd.h"
#include "base/Number.h"
#include "examples/echo/EchoServer.h"
#include "net/Channel.h"
#include "net/EventLoop.h"
#include "net/Socket.h"

namespace
{

struct Options {
    std::string addr = "127.0.0.1";
    int port = 8080;
    int ioThreads = 1; // loops serving connections (0: the accepting one)
};

void usage(FILE *out)
{
    fprintf(out, "usage: server [-b ADDR] [-p PORT] [-n THREADS] [-h]\n");
}

[[noreturn]] void usageError(const char *what, const char *arg)
{
    fprintf(stderr, "server: %s '%s'\n", what, arg);
    usage(stderr);
    exit(2);
}

int parseFlagNumber(const char *text, int max, const char *what)
{
    long long n;
    if (!parseNumber(text, 0, max, n))
        usageError(what, text);
    return static_cast<int>(n);
}

Options parseArgs(int argc, char **argv)
{
    Options opts;
    sockaddr_storage unused;
    socklen_t unusedLen;
    int opt;
    opterr = 0; // our own one-line message, not getopt's
    while ((opt = getopt(argc, argv, "b:p:n:h")) != -1) {
        switch (opt) {
        case 'b':
            if (!Socket::parseAddress(optarg, 0, unused, unusedLen))
                usageError("bad IPv4 or IPv6 address", optarg);
            opts.addr = optarg;
            break;
        case 'p':
            opts.port = parseFlagNumber(optarg, 65535, "bad port");
            break;
        case 'n':
            opts.ioThreads =
                parseFlagNumber(optarg, 256, "bad number of threads");
            break;
        case 'h':
            usage(stdout);
            exit(0);
        default:
            fprintf(stderr, "server: unknown option or missing value: -%c\n",
                    optopt);
            usage(stderr);
            exit(2);
        }
    }
    if (optind < argc)
        usageError("unexpected argument", argv[optind]);
    return opts;
}

// Blocked in every thread (the I/O threads inherit the mask) and read as
// data in the accepting loop: no handler interrupts any thread.
Fd blockedStopSignals()
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
    return Fd(signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC));
}

} // namespace

int main(int argc, char **argv)
{
    Options opts = parseArgs(argc, argv);
    // A write to a client that has gone raises SIGPIPE, which would end
    // the server; ignored, the write fails with EPIPE and that one
    // connection closes. SIGHUP never ends a course server.
    signal(SIGPIPE, SIG_IGN);
    signal(SIGHUP, SIG_IGN);
    Fd signals = blockedStopSignals(); // before any thread exists
    std::string err;
    Fd listenFd = Socket::listenOn(opts.addr, opts.port, err);
    if (!signals || !listenFd) {
        fprintf(stderr, "server: %s\n", signals ? err.c_str() : "signalfd");
        return 1;
    }
    // listenOn() has the kernel hold a connection back until its first
    // bytes come (an HTTP client speaks at once). An echo client may
    // connect and wait: take it at once.
    int off = 0;
    setsockopt(listenFd.get(), IPPROTO_TCP, TCP_DEFER_ACCEPT, &off, sizeof off);
    int port = Socket::localPort(listenFd.get()); // the kernel's pick for 0

    EventLoop loop;
    EchoServer server(&loop, std::move(listenFd));
    Channel signalChannel(&loop, signals.get());
    signalChannel.setReadCallback([&loop] { loop.quit(); });
    signalChannel.enableReading();
    server.start(opts.ioThreads);
    printf("listening on %s\n", Socket::hostPort(opts.addr, port).c_str());
    fflush(stdout); // stdout is a pipe under a test: flush, or it waits
    loop.loop();
    signalChannel.remove();
    server.stop();
    return 0;
}

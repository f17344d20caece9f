// main: flags and the configuration file into Config, the listening
// socket, the loops, signals through a signalfd, and a graceful stop.
#include <getopt.h>
#include <malloc.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "app/Config.h"
#include "app/Daemon.h"
#include "app/Master.h"
#include "app/Systemd.h"
#include "base/Failure.h"
#include "base/Fd.h"
#include "base/Logger.h"
#include "base/Number.h"
#include "base/Timestamp.h"
#include "http/Cgi.h"
#include "http/HttpServer.h"
#include "http/StaticFiles.h"
#include "net/Channel.h"
#include "net/EventLoop.h"
#include "net/Socket.h"
#include "net/TcpServer.h"

namespace
{

constexpr int64_t kShutdownPollMs = 20; // how often a stop checks for idle
constexpr int64_t kReapGraceMs = 2000; // for killed scripts to be reaped

void usage(FILE *out)
{
    fprintf(out, "usage: server [-b ADDR] [-p PORT] [-d] [-P PIDFILE] "
                 "[-r DOCROOT] [-x PHP_CGI] [-T SECONDS] [-k SECONDS] "
                 "[-w WORKERS] [-c FILE] [-t] [-h]\n");
}

[[noreturn]] void usageError(const char *what, const char *arg)
{
    Log::error("%s '%s'", what, arg);
    usage(stderr);
    exit(2);
}

int parseFlagNumber(const char *text, long long min, long long max,
                    const char *what)
{
    long long n;
    if (!parseNumber(text, min, max, n))
        usageError(what, text);
    return static_cast<int>(n);
}

// Fills cfg from the command line; exits 0 after -h, 2 on a usage error.
// Called twice: the first pass takes only -c and -t, so that the file is
// read before the second pass lets every other flag override it.
void parseArgs(int argc, char **argv, Config &cfg, bool firstPass)
{
    sockaddr_storage unused;
    socklen_t unusedLen;
    int opt;
    opterr = 0; // our own one-line message, not getopt's
    optind = 1; // start over: the second pass reads argv again
    while ((opt = getopt(argc, argv, "b:p:dP:r:x:T:k:w:c:th")) != -1) {
        bool fileFlag = opt == 'c' || opt == 't';
        if (firstPass != fileFlag && opt != 'h' && opt != '?')
            continue;
        switch (opt) {
        case 'b':
            if (!Socket::parseAddress(optarg, 0, unused, unusedLen))
                usageError("bad IPv4 or IPv6 address", optarg);
            cfg.addr = optarg;
            break;
        case 'p':
            cfg.port = parseFlagNumber(optarg, 0, 65535, "bad port");
            break;
        case 'd':
            cfg.daemonize = true;
            break;
        case 'P':
            cfg.pidfile = optarg;
            break;
        case 'r':
            cfg.root = optarg;
            break;
        case 'x':
            cfg.phpCgi = optarg;
            break;
        case 'T':
            cfg.cgiTimeout =
                parseFlagNumber(optarg, 1, 86400, "bad number of seconds");
            break;
        case 'k':
            cfg.keepaliveTimeout =
                parseFlagNumber(optarg, 1, 86400, "bad number of seconds");
            break;
        case 'w':
            cfg.workers =
                parseFlagNumber(optarg, 0, 64, "bad number of workers");
            break;
        case 'c':
            cfg.configFile = optarg;
            break;
        case 't':
            cfg.checkOnly = true;
            break;
        case 'h':
            usage(stdout);
            exit(0);
        default:
            Log::error("unknown option or missing value: -%c", optopt);
            usage(stderr);
            exit(2);
        }
    }
    if (optind < argc)
        usageError("unexpected argument", argv[optind]);
}

/// The command line, kept for a reload: its flags win over the file again.
struct CommandLine {
    int argc;
    char **argv;
    std::string dir; // where it ran: a relative -r is from here, after -d
};

// Flags over the file over the defaults: the file that the first pass named
// (-c) is read, then the other flags override it. At startup and at each
// reload alike.
bool readFileAndFlags(const CommandLine &cmd, Config &cfg, std::string &err)
{
    if (!cfg.configFile.empty() && !cfg.load(cfg.configFile, err))
        return false;
    parseArgs(cmd.argc, cmd.argv, cfg, false);
    return true;
}

// Each connection is a descriptor, and the soft limit is often 1024:
// raise it to the hard limit, which needs no privilege.
void raiseDescriptorLimit()
{
    struct rlimit limit;
    if (getrlimit(RLIMIT_NOFILE, &limit) == 0 &&
        limit.rlim_cur < limit.rlim_max) {
        limit.rlim_cur = limit.rlim_max;
        setrlimit(RLIMIT_NOFILE, &limit);
    }
}

// SIGTERM, SIGINT and SIGHUP blocked in every thread (the I/O threads
// inherit the mask), and read as data from a signalfd in the base loop:
// no handler runs at an arbitrary point of some thread.
Fd blockedSignals()
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
    Fd fd(signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC));
    if (!fd) {
        Log::error("signalfd: %s", strerror(errno));
        exit(1);
    }
    return fd;
}

// What a configuration must pass before anything serves it, at startup
// and at each reload with workers: its document root opens, and becomes
// absolute (scripts are started by absolute path; a daemon's directory is
// "/"). What it only warns of is said here, once, not by every worker.
Fd openRoot(Config &cfg, std::string &err)
{
    Fd root(StaticFiles::openRoot(cfg.root, err));
    if (!root)
        return root;
    std::unique_ptr<char, decltype(&free)> absolute(
        realpath(cfg.root.c_str(), nullptr), free);
    if (!absolute) {
        err = failure("document root");
        return Fd();
    }
    cfg.root = absolute.get();
    HttpServer::warnOfHiddenFiles(root.get());
    if (cfg.fastcgiPass.empty() && Cgi::findProgram(cfg.phpCgi).empty())
        Log::warn("php-cgi %s not found: .php requests will get 502",
                  cfg.phpCgi.c_str());
    return root;
}

template <typename T> void keep(const char *key, T &next, const T &old)
{
    if (next == old)
        return;
    Log::warn("reload: %s changes only with a restart: the old value stays",
              key);
    next = old;
}

// With workers, a reload starts new ones with every new setting but those
// of the master's own process, and cannot make it one process.
void keepWhatTheMasterHolds(Config &next, const Config &now)
{
    keep("daemon", next.daemonize, now.daemonize);
    keep("pidfile", next.pidfile, now.pidfile);
    if (next.workers == 0)
        keep("workers", next.workers, now.workers);
}

void printReadyLine(const Config &cfg)
{
    printf("listening on %s\n", Socket::hostPort(cfg.addr, cfg.port).c_str());
    fflush(stdout); // stdout is a pipe under a test: flush, or it waits
}

/// The whole server: what main starts, and the stop that a signal begins.
class Server
{
  public:
    /// loaded is the configuration as the file and the flags gave it (the
    /// file's path absolute), which a reload reads again; socketActivated:
    /// listenFd came from systemd.
    Server(Config &cfg, const Config &loaded, const CommandLine &cmd,
           Fd listenFd, bool socketActivated, int rootFd)
        : cfg_(cfg), loaded_(loaded), cmd_(cmd),
          socketActivated_(socketActivated), tcp_(&loop_, std::move(listenFd)),
          cgiSettings_(cfg.cgiSettings()), cgi_(cgiSettings_, phpCgiPath(cfg)),
          http_(cfg.httpSettings(), tcp_, cgi_, rootFd)
    {
    }

    /// Serves until a stop signal, then stops gracefully. Returns the exit
    /// status. A worker writes one byte into readyPipe once it serves.
    int run(Fd signals, Fd readyPipe)
    {
        Channel signalChannel(&loop_, signals.get());
        signalChannel.setReadCallback([&] { handleSignals(signals.get()); });
        signalChannel.enableReading();
        tcp_.start(cfg_.ioThreads);
        http_.start(tcp_.loops());
        std::string err;
        if (cfg_.daemonize && !Daemon::ready(err)) {
            Log::error("%s", err.c_str());
            return 1;
        }
        Log::start();
        Systemd::ready();
        if (readyPipe && write(readyPipe.get(), "", 1) != 1)
            Log::error("telling the master: %s", strerror(errno));
        readyPipe.reset();
        loop_.loop();
        signalChannel.remove();
        tcp_.stop(); // connections still open at the deadline are closed
        Log::stop();
        return 0;
    }

  private:
    static std::string phpCgiPath(const Config &cfg)
    {
        if (!cfg.fastcgiPass.empty())
            return ""; // php-fpm runs .php, not php-cgi
        return Cgi::findProgram(cfg.phpCgi); // openRoot() warned if none
    }

    void handleSignals(int fd)
    {
        struct signalfd_siginfo info;
        while (read(fd, &info, sizeof info) == sizeof info) {
            // A worker's reload is its master's: new workers replace it.
            // A terminal's hang-up reaches the whole process group.
            if (info.ssi_signo == SIGHUP && cfg_.workers > 0)
                continue;
            if (info.ssi_signo == SIGHUP)
                reload();
            else if (stopDeadlineMs_ < 0)
                beginStop();
            else
                stopDeadlineMs_ = Timestamp::nowMs(); // a second one: now
        }
    }

    // SIGHUP is the reload: the file is read again and the flags applied
    // over it, as at startup; a file that does not check changes nothing.
    // systemd hears when the reload begins, and when it ends with the new
    // settings in place and the log files reopened (on the log's thread),
    // so that `systemctl reload` returns only then.
    void reload()
    {
        Systemd::reloading();
        Config next;
        next.configFile = loaded_.configFile;
        std::string err;
        if (readFileAndFlags(cmd_, next, err))
            apply(next);
        else
            Log::error("reload: %s: the old settings stay", err.c_str());
        Log::reopen([] { Systemd::ready(); });
    }

    // Base loop thread. Each layer takes its part; connections already
    // open keep the settings they were accepted with.
    void apply(Config &next)
    {
        keepWhatNeedsRestart(next);
        if (!rebind(next)) {
            next.addr = loaded_.addr;
            next.port = loaded_.port;
        }
        http_.setSettings(next.httpSettings());
        Log::setLevel(next.logLevel);
        cfg_.shutdownTimeout = next.shutdownTimeout; // read at the stop
        cfg_.shutdownDrain = next.shutdownDrain;
        loaded_ = next;
        Log::info("configuration reloaded");
    }

    // What was set up once at startup: the threads, the process, the
    // document root and the files opened from it (each loop's StaticFiles),
    // the log files' paths, and what scripts read while they run (the Cgi
    // holds its settings for its whole life).
    void keepWhatNeedsRestart(Config &next) const
    {
        keep("io_threads", next.ioThreads, loaded_.ioThreads);
        keep("workers", next.workers, loaded_.workers);
        keep("worker_threads", next.workerThreads, loaded_.workerThreads);
        keep("max_queued_scripts", next.maxQueuedScripts,
             loaded_.maxQueuedScripts);
        keep("daemon", next.daemonize, loaded_.daemonize);
        keep("pidfile", next.pidfile, loaded_.pidfile);
        keep("root", next.root, loaded_.root);
        keep("index", next.index, loaded_.index);
        keep("php_cgi", next.phpCgi, loaded_.phpCgi);
        keep("cgi_timeout", next.cgiTimeout, loaded_.cgiTimeout);
        keep("fastcgi_pass", next.fastcgiPass, loaded_.fastcgiPass);
        keep("fastcgi_timeout", next.fastcgiTimeout, loaded_.fastcgiTimeout);
        keep("access_log", next.accessLog, loaded_.accessLog);
        keep("error_log", next.errorLog, loaded_.errorLog);
    }

    // A new listen address is bound before the old one is let go, so a
    // bind that fails leaves the old one serving. A server that is
    // stopping has closed its listener and opens no other. Returns whether
    // next's address is the one listened on now.
    bool rebind(const Config &next)
    {
        if (next.addr == loaded_.addr && next.port == loaded_.port)
            return true;
        if (stopDeadlineMs_ >= 0) {
            Log::warn("reload: stopping, so listening on nothing new");
            return false;
        }
        if (socketActivated_) {
            Log::warn("reload: listen is systemd's socket, which it keeps: "
                      "the old one stays");
            return false;
        }
        std::string err;
        Fd listenFd = Socket::listenOn(next.addr, next.port, err);
        if (!listenFd) {
            Log::error("reload: %s: still listening on %s", err.c_str(),
                       Socket::hostPort(cfg_.addr, cfg_.port).c_str());
            return false;
        }
        cfg_.addr = next.addr;
        cfg_.port = Socket::localPort(listenFd.get());
        tcp_.replaceListener(std::move(listenFd));
        Log::info("listening on %s",
                  Socket::hostPort(cfg_.addr, cfg_.port).c_str());
        return true;
    }

    // Graceful: first shutdown_drain seconds of serving on with /healthz
    // saying 503, so that a load balancer stops sending us clients before
    // we refuse any; then refuse new clients, close the idle ones, let
    // requests in flight finish, scripts waiting for a slot included, up
    // to shutdown_timeout; then the loops stop.
    void beginStop()
    {
        drainEndMs_ = Timestamp::nowMs() + cfg_.shutdownDrain * int64_t(1000);
        stopDeadlineMs_ = drainEndMs_ + cfg_.shutdownTimeout * int64_t(1000);
        Systemd::stopping();
        http_.failHealthChecks();
        checkStopped();
    }

    void stopServing()
    {
        servingStopped_ = true;
        tcp_.stopAccepting();
        http_.beginShutdown();
    }

    // Past the deadline, the scripts still waiting for a slot are answered
    // 503, and one check later, once the loops have written those answers,
    // what is still open is closed, which kills its scripts; the loops then
    // reap them through their pidfds, so the stop waits for that too, a
    // moment (SIGKILL cannot be ignored), and leaves no process behind.
    void checkStopped()
    {
        int64_t now = Timestamp::nowMs();
        // A second signal, which moves the deadline to now, ends the drain.
        if (!servingStopped_ && (now >= drainEndMs_ || now >= stopDeadlineMs_))
            stopServing();
        if (!servingStopped_) {
            loop_.runAfter(kShutdownPollMs, [this] { checkStopped(); });
            return;
        }
        if (now >= stopDeadlineMs_ && !refusedWaiting_) {
            refusedWaiting_ = true;
            Cgi::stopQueue();
        } else if (now >= stopDeadlineMs_ && !closedAll_) {
            closedAll_ = true;
            tcp_.forEachConnection(
                [](const TcpConnectionPtr &conn) { conn->forceClose(); });
        }
        bool done = tcp_.connectionCount() == 0 && Cgi::runningScripts() == 0;
        if (done || now >= stopDeadlineMs_ + kReapGraceMs) {
            loop_.quit();
            return;
        }
        loop_.runAfter(kShutdownPollMs, [this] { checkStopped(); });
    }

    Config &cfg_; // main's: the root made absolute, the port bound
    Config loaded_; // the file and the flags as last read, for a reload
    const CommandLine cmd_; // main's argv, alive as long as the process
    const bool socketActivated_;
    EventLoop loop_;
    TcpServer tcp_;
    const CgiSettings cgiSettings_; // the scripts read it while they run
    Cgi cgi_;
    HttpServer http_;
    int64_t drainEndMs_ = -1; // shutdown_drain's end, once stopping
    int64_t stopDeadlineMs_ = -1;
    bool servingStopped_ = false; // the drain is over: the listener closed
    bool refusedWaiting_ = false; // the deadline's 503s to waiting scripts
    bool closedAll_ = false; // the deadline's forced close is done
};

} // namespace

int main(int argc, char **argv)
{
    Config cfg;
    std::string err;
    std::unique_ptr<char, decltype(&free)> dir(getcwd(nullptr, 0), free);
    const CommandLine cmd = {argc, argv, dir ? dir.get() : "."};
    parseArgs(argc, argv, cfg, true);
    if (!readFileAndFlags(cmd, cfg, err)) {
        Log::error("%s", err.c_str());
        return 2;
    }
    // What a reload compares its reading with; the file by an absolute
    // path, as a daemon (in "/") must find it.
    Config loaded = cfg;
    if (char *path = realpath(cfg.configFile.c_str(), nullptr)) {
        loaded.configFile = path;
        free(path);
    }

    // A client that leaves without reading its reply turns our next write
    // into SIGPIPE, whose default action kills the whole server. Ignored,
    // the write fails with EPIPE and only that connection ends.
    signal(SIGPIPE, SIG_IGN);
    // Buffers past 128 KiB (a script's output) are mapped and unmapped, so
    // that the memory they free goes back to the system at once. Left to
    // itself, glibc raises this threshold as big buffers are freed, up to
    // 32 MiB, and keeps the memory freed below it for its own reuse.
    mallopt(M_MMAP_THRESHOLD, 128 * 1024);
    Fd signals = blockedSignals(); // before any thread exists
    raiseDescriptorLimit();

    // Opened before daemonize changes directory, so a relative -r works.
    Fd rootFd = openRoot(cfg, err);
    if (!rootFd) {
        Log::error("%s", err.c_str());
        return 2;
    }
    if (!Log::open(cfg.logSettings(), err)) {
        Log::error("%s", err.c_str());
        return 2;
    }
    if (cfg.checkOnly) {
        printf("configuration ok\n");
        return 0;
    }
    if ((!cfg.pidfile.empty() && !Daemon::lockPidfile(cfg.pidfile, err)) ||
        (cfg.daemonize && !Daemon::daemonize(err)) ||
        (!cfg.pidfile.empty() && !Daemon::writePid(err))) {
        Log::error("%s", err.c_str());
        return 1;
    }

    // Under socket activation systemd has bound and listens already, and
    // keeps the socket across our restarts; -b and -p are then unused.
    Fd listenFd = Systemd::passedListener(cfg.addr, err);
    bool socketActivated = listenFd.valid();
    if (!listenFd && err.empty())
        listenFd = Socket::listenOn(cfg.addr, cfg.port, err, cfg.workers > 0);
    if (!listenFd) {
        Log::error("%s", err.c_str());
        return 1;
    }
    cfg.port = Socket::localPort(listenFd.get()); // the kernel's pick for 0
    if (cfg.workers > 0) {
        // A reload reads and checks as startup did, in the master; then
        // every worker of the new generation starts as the first ones do.
        Master::Reader reread = [&](Config &next, std::string &why) {
            next.configFile = loaded.configFile;
            if (!readFileAndFlags(cmd, next, why))
                return false;
            keepWhatTheMasterHolds(next, cfg);
            if (next.root[0] != '/')
                next.root = cmd.dir + "/" + next.root;
            return openRoot(next, why).valid();
        };
        // After the fork: the master starts no thread. The worker opens
        // its generation's root and logs by the paths the master checked.
        Master::Worker worker = [&](const Config &gen, Fd listener,
                                    Fd readyPipe) {
            Config served = gen;
            std::string why;
            Fd root(StaticFiles::openRoot(served.root, why));
            if (!root || !Log::open(served.logSettings(), why)) {
                Log::error("%s", why.c_str());
                return 1;
            }
            Server server(served, gen, cmd, std::move(listener),
                          socketActivated, root.get());
            return server.run(std::move(signals), std::move(readyPipe));
        };
        // The ready line comes once every worker serves.
        Master master(cfg, std::move(listenFd), socketActivated,
                      std::move(reread), std::move(worker));
        if (!master.start())
            return 1;
        printReadyLine(cfg);
        if (cfg.daemonize && !Daemon::ready(err))
            Log::error("%s", err.c_str()); // the workers serve all the same
        Systemd::ready();
        return master.run();
    }
    Server server(cfg, loaded, cmd, std::move(listenFd), socketActivated,
                  rootFd.get());
    printReadyLine(cfg);
    return server.run(std::move(signals), Fd());
}

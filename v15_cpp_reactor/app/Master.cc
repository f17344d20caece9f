// Master: fork, supervise with sigwaitinfo, pass the signals on, and
// reload by replacing one generation of workers with another.
#include "app/Master.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "app/Systemd.h"
#include "base/Failure.h"
#include "base/Logger.h"
#include "net/Socket.h"

namespace
{

// Workers replaced over the server's life before the master gives up: a
// worker that dies at once, every time, must not become a fork loop.
constexpr int kRestartsPerWorker = 5;

// What the master waits for. main blocked all four before the first fork
// (SIGCHLD here), so none is lost between two waits.
sigset_t masterSignals()
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGCHLD);
    return set;
}

std::string howItEnded(int status)
{
    if (WIFSIGNALED(status))
        return "was killed by signal " + std::to_string(WTERMSIG(status));
    return "exited with status " + std::to_string(WEXITSTATUS(status));
}

} // namespace

Master::Master(const Config &cfg, Fd listener, bool socketActivated,
               Reader reread, Worker worker)
    : socketActivated_(socketActivated), reread_(std::move(reread)),
      worker_(std::move(worker))
{
    current_.cfg = cfg;
    current_.listeners.push_back(std::move(listener));
    sigset_t set = masterSignals();
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

bool Master::start()
{
    std::string err;
    if (!addListeners(current_.cfg, current_.listeners, err)) {
        Log::error("%s", err.c_str());
        return false;
    }
    if (startGeneration())
        return true;
    Log::error("a worker exited before it served");
    beginStop();
    retire(current_);
    run();
    return false;
}

int Master::run()
{
    sigset_t set = masterSignals();
    while (anyWorker()) {
        siginfo_t info;
        if (sigwaitinfo(&set, &info) > 0)
            handle(info);
    }
    return status_;
}

// One listener per worker, on the port of the first, each a socket of its
// own, so that the kernel spreads the connections over them (SO_REUSEPORT).
// Under socket activation they all share systemd's socket, which need not
// allow a second one on its port.
bool Master::addListeners(const Config &cfg, std::vector<Fd> &listeners,
                          std::string &err) const
{
    while (listeners.size() < static_cast<size_t>(cfg.workers)) {
        Fd fd = socketActivated_
                    ? Fd(fcntl(listeners[0].get(), F_DUPFD_CLOEXEC, 0))
                    : Socket::listenOn(cfg.addr, cfg.port, err, true);
        if (!fd && err.empty())
            err = failure("LISTEN_FDS: fcntl");
        if (!fd)
            return false;
        listeners.push_back(std::move(fd));
    }
    return true;
}

// The sockets of next's workers. An unchanged address keeps the sockets in
// use (copies), so that no connection queued in one is lost; a new one is
// bound while the old still serve. next's port becomes the one bound.
bool Master::listenersFor(Config &next, std::vector<Fd> &listeners,
                          std::string &err) const
{
    const Config &now = current_.cfg;
    // Port 0 asks for any port: the one bound is one.
    bool same =
        next.addr == now.addr && (next.port == now.port || next.port == 0);
    if (!same && socketActivated_)
        Log::warn("reload: listen is systemd's socket, which it keeps: the "
                  "old one stays");
    if (same || socketActivated_) {
        next.addr = now.addr;
        next.port = now.port;
        for (const Fd &fd : current_.listeners) {
            if (listeners.size() == static_cast<size_t>(next.workers))
                break;
            listeners.emplace_back(fcntl(fd.get(), F_DUPFD_CLOEXEC, 0));
            if (!listeners.back()) {
                err = failure("listener: fcntl");
                return false;
            }
        }
    } else {
        Fd first = Socket::listenOn(next.addr, next.port, err, true);
        if (!first)
            return false;
        next.port = Socket::localPort(first.get());
        listeners.push_back(std::move(first));
    }
    return addListeners(next, listeners, err);
}

// Forks a worker per listener of current_ and waits until each serves.
bool Master::startGeneration()
{
    int ends[2];
    if (pipe2(ends, O_CLOEXEC) < 0) {
        Log::error("pipe: %s", strerror(errno));
        return false;
    }
    readyRead_.reset(ends[0]);
    readyWrite_.reset(ends[1]);
    size_t count = current_.listeners.size();
    current_.pids.assign(count, 0);
    restartsLeft_ = kRestartsPerWorker * static_cast<int>(count);
    for (size_t slot = 0; slot < count; slot++)
        spawn(slot, true);
    // Each worker closes its write end once it has written its byte, or
    // when it dies: with ours closed too, read sees the end of the pipe
    // then. Signals wait meanwhile, blocked: a stop that comes during a
    // reload is taken once the new generation serves or has failed.
    readyWrite_.reset();
    size_t serving = 0;
    char byte;
    while (serving < count && read(readyRead_.get(), &byte, 1) == 1)
        serving++;
    readyRead_.reset();
    return serving == count;
}

void Master::spawn(size_t slot, bool awaited)
{
    pid_t pid = fork();
    if (pid < 0) {
        Log::error("fork: %s", strerror(errno));
        status_ = 1;
        return;
    }
    if (pid == 0) {
        Fd listener = std::move(current_.listeners[slot]);
        // Every other socket the master holds: a copy left here would keep
        // one open after its worker closed it at a stop, still queueing
        // connections that nobody accepts.
        current_.listeners.clear();
        previous_.listeners.clear();
        Fd readyPipe = awaited ? std::move(readyWrite_) : Fd();
        readyWrite_.reset();
        readyRead_.reset();
        sigset_t chld;
        sigemptyset(&chld);
        sigaddset(&chld, SIGCHLD);
        pthread_sigmask(SIG_UNBLOCK, &chld, nullptr);
        unsetenv("NOTIFY_SOCKET"); // systemd hears from the master alone
        exit(worker_(current_.cfg, std::move(listener), std::move(readyPipe)));
    }
    current_.pids[slot] = pid;
}

void Master::handle(const siginfo_t &info)
{
    if (info.si_signo == SIGCHLD) {
        reapWorkers();
        return;
    }
    if (info.si_signo == SIGHUP) {
        reload();
        return;
    }
    beginStop();
    // A terminal's Ctrl-C signals its whole foreground process group, the
    // workers too (SI_KERNEL, sigaction(2)): passed on, it would be a
    // worker's second one, which ends the wait for requests in flight.
    if (info.si_code == SI_KERNEL)
        return;
    for (pid_t pid : current_.pids)
        if (pid != 0)
            kill(pid, info.si_signo);
}

// systemd hears RELOADING=1 and READY=1 around every reload, even one that
// changes nothing: `systemctl reload` waits for the READY=1.
void Master::reload()
{
    if (stopping_) {
        Log::warn("reload: stopping, so starting no workers");
        return;
    }
    Systemd::reloading();
    Config next;
    std::string err;
    std::vector<Fd> listeners;
    if (!reread_(next, err))
        Log::error("reload: %s: the old settings stay", err.c_str());
    else if (!listenersFor(next, listeners, err))
        Log::error("reload: %s: the old workers stay", err.c_str());
    else
        replaceGeneration(next, std::move(listeners));
    Systemd::ready();
}

// The new generation serves beside the old before the old is told to
// stop, so that the port always has workers that accept.
void Master::replaceGeneration(const Config &next, std::vector<Fd> listeners)
{
    int restartsLeft = restartsLeft_;
    previous_ = std::move(current_);
    current_ = Generation{next, std::move(listeners), {}};
    if (startGeneration()) {
        retire(previous_);
    } else {
        Log::error("reload: a new worker exited before it served: the old "
                   "workers stay");
        retire(current_);
        current_ = std::move(previous_);
        restartsLeft_ = restartsLeft;
    }
    previous_ = Generation();
}

// The master's copies of the listeners close first: each socket then lives
// in its workers alone (or in the next generation's too), and a worker
// takes what waits in it before it closes its own.
void Master::retire(Generation &gen)
{
    gen.listeners.clear();
    for (pid_t pid : gen.pids) {
        if (pid == 0)
            continue;
        kill(pid, SIGTERM);
        retiring_.push_back(pid);
    }
    gen.pids.clear();
}

void Master::reapWorkers()
{
    int status;
    pid_t pid;
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        bool failed = !WIFEXITED(status) || WEXITSTATUS(status) != 0;
        auto old = std::find(retiring_.begin(), retiring_.end(), pid);
        if (old != retiring_.end()) {
            retiring_.erase(old);
            if (failed)
                Log::error("worker pid %d, told to stop, %s", pid,
                           howItEnded(status).c_str());
        }
        for (size_t slot = 0; slot < current_.pids.size(); slot++) {
            if (current_.pids[slot] != pid)
                continue;
            current_.pids[slot] = 0;
            if (!stopping_)
                replace(slot, pid, status);
            else if (failed)
                status_ = 1;
        }
    }
}

// A worker died on its own: its listener is still open here, with the
// connections queued in it, and a new worker takes it over, with the
// settings of its generation.
void Master::replace(size_t slot, pid_t dead, int status)
{
    std::string how = howItEnded(status);
    if (restartsLeft_ == 0) {
        Log::error("worker pid %d %s: no restarts left, stopping", dead,
                   how.c_str());
        status_ = 1;
        beginStop();
        retire(current_);
        return;
    }
    restartsLeft_--;
    Log::error("worker pid %d %s: starting another", dead, how.c_str());
    spawn(slot, false);
}

// The master's copies of the listeners close first: each socket then lives
// in its worker alone, which takes what waits in it before it closes it.
void Master::beginStop()
{
    if (stopping_)
        return;
    stopping_ = true;
    Systemd::stopping();
    current_.listeners.clear();
}

bool Master::anyWorker() const
{
    for (pid_t pid : current_.pids)
        if (pid != 0)
            return true;
    return !retiring_.empty();
}

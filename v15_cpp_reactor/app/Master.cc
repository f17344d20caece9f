// Master: fork, supervise with sigwaitinfo, pass the signals on.
#include "app/Master.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "app/Systemd.h"
#include "base/Logger.h"

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

Master::Master(std::vector<Fd> listeners, Worker worker)
    : listeners_(std::move(listeners)), pids_(listeners_.size(), 0),
      worker_(std::move(worker)),
      restartsLeft_(kRestartsPerWorker * static_cast<int>(listeners_.size()))
{
    sigset_t set = masterSignals();
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

bool Master::start()
{
    int ends[2];
    if (pipe2(ends, O_CLOEXEC) < 0) {
        Log::error("pipe: %s", strerror(errno));
        return false;
    }
    readyRead_.reset(ends[0]);
    readyWrite_.reset(ends[1]);
    for (size_t slot = 0; slot < listeners_.size(); slot++)
        spawn(slot, true);
    // Each worker closes its write end once it has written its byte, or
    // when it dies: with ours closed too, read sees the end of the pipe
    // then.
    readyWrite_.reset();
    size_t serving = 0;
    char byte;
    while (serving < listeners_.size() && read(readyRead_.get(), &byte, 1) == 1)
        serving++;
    readyRead_.reset();
    if (serving == listeners_.size())
        return true;
    Log::error("a worker exited before it served");
    beginStop();
    signalWorkers(SIGTERM);
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

void Master::spawn(size_t slot, bool awaited)
{
    pid_t pid = fork();
    if (pid < 0) {
        Log::error("fork: %s", strerror(errno));
        status_ = 1;
        return;
    }
    if (pid == 0) {
        Fd listener = std::move(listeners_[slot]);
        // The other workers' sockets: a copy left here would keep one
        // open after its worker closed it at a stop, still queueing
        // connections that nobody accepts.
        listeners_.clear();
        Fd readyPipe = awaited ? std::move(readyWrite_) : Fd();
        readyWrite_.reset();
        readyRead_.reset();
        sigset_t chld;
        sigemptyset(&chld);
        sigaddset(&chld, SIGCHLD);
        pthread_sigmask(SIG_UNBLOCK, &chld, nullptr);
        unsetenv("NOTIFY_SOCKET"); // systemd hears from the master alone
        exit(worker_(std::move(listener), std::move(readyPipe)));
    }
    pids_[slot] = pid;
}

void Master::handle(const siginfo_t &info)
{
    if (info.si_signo == SIGCHLD) {
        reapWorkers();
        return;
    }
    if (info.si_signo != SIGHUP)
        beginStop();
    // A terminal's Ctrl-C (or hang-up) signals its whole foreground process
    // group, the workers too (SI_KERNEL, sigaction(2)): passed on, it would
    // be a worker's second one, which ends the wait for requests in flight.
    if (info.si_code != SI_KERNEL)
        signalWorkers(info.si_signo);
}

void Master::reapWorkers()
{
    int status;
    pid_t pid;
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        for (size_t slot = 0; slot < pids_.size(); slot++) {
            if (pids_[slot] != pid)
                continue;
            pids_[slot] = 0;
            if (!stopping_)
                replace(slot, pid, status);
            else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
                status_ = 1;
        }
    }
}

// A worker died on its own: its listener is still open here, with the
// connections queued in it, and a new worker takes it over.
void Master::replace(size_t slot, pid_t dead, int status)
{
    std::string how = howItEnded(status);
    if (restartsLeft_ == 0) {
        Log::error("worker pid %d %s: no restarts left, stopping", dead,
                   how.c_str());
        status_ = 1;
        beginStop();
        signalWorkers(SIGTERM);
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
    listeners_.clear();
}

void Master::signalWorkers(int sig)
{
    for (pid_t pid : pids_)
        if (pid != 0)
            kill(pid, sig);
}

bool Master::anyWorker() const
{
    for (pid_t pid : pids_)
        if (pid != 0)
            return true;
    return false;
}

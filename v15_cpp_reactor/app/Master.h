/// Master: `workers = N`. N worker processes serve one port, each with its
/// own listening socket (SO_REUSEPORT) and its own loops; the master only
/// supervises them. It forwards SIGTERM, SIGINT and SIGHUP, replaces a
/// worker that dies on its own (a bounded number of times), and exits once
/// every worker has exited after a stop. It starts no thread, so it may
/// fork at any time (a fork copies only the thread that calls it).
#pragma once

#include <signal.h>
#include <sys/types.h>

#include <functional>
#include <vector>

#include "base/Fd.h"
#include "base/NonCopyable.h"

class Master : NonCopyable
{
  public:
    /// Serves in a worker process on listener until a stop, then returns
    /// the worker's exit status. Once it serves it writes one byte into
    /// readyPipe, when that is valid (the first workers, whom startup
    /// waits for).
    using Worker = std::function<int(Fd listener, Fd readyPipe)>;

    /// listeners: one per worker, all bound to one port. The master holds
    /// them until a stop, so that a worker that replaces a dead one takes
    /// the same socket, with the connections that waited in its queue.
    Master(std::vector<Fd> listeners, Worker worker);

    /// Forks the workers and waits until each one serves. False if one
    /// exited first (its stderr said why); the others are then stopped.
    bool start();
    /// Supervises until a stop signal and the workers' exit; returns the
    /// exit status: 0 when every worker exited 0.
    int run();

  private:
    void spawn(size_t slot, bool awaited);
    void handle(const siginfo_t &info);
    void reapWorkers();
    void replace(size_t slot, pid_t dead, int status);
    void beginStop();
    void signalWorkers(int sig);
    bool anyWorker() const;

    std::vector<Fd> listeners_; // the master's copies, closed at a stop
    std::vector<pid_t> pids_; // each listener's worker; 0: none
    // The pipe the first workers say they serve through, while start()
    // waits: the master's ends, which each worker closes too.
    Fd readyRead_;
    Fd readyWrite_;
    Worker worker_;
    int restartsLeft_; // workers that may still replace a dead one
    bool stopping_ = false;
    int status_ = 0;
};

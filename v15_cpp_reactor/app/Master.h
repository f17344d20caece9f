/// Master: `workers = N`. N worker processes serve one port, each with its
/// own listening socket (SO_REUSEPORT) and its own loops; the master serves
/// nothing. It forwards SIGTERM and SIGINT, replaces a worker that dies on
/// its own (a bounded number of times), and reloads as nginx does: at
/// SIGHUP it reads the configuration itself, starts a new generation of
/// workers with it, and only then stops the old one gracefully. It exits
/// once every worker has exited after a stop. It starts no thread, so it
/// may fork at any time (a fork copies only the thread that calls it).
/// main owns it for the whole life of the process.
#pragma once

#include <signal.h>
#include <sys/types.h>

#include <functional>
#include <string>
#include <vector>

#include "app/Config.h"
#include "base/Fd.h"
#include "base/NonCopyable.h"

class Master : NonCopyable
{
  public:
    /// Serves cfg in a worker process on listener until a stop, then
    /// returns the worker's exit status. Once it serves it writes one byte
    /// into readyPipe, when that is valid (a generation the master waits
    /// for, not a worker that replaces a dead one).
    using Worker =
        std::function<int(const Config &cfg, Fd listener, Fd readyPipe)>;
    /// Reads and checks the configuration again: true with next filled, or
    /// false with "FILE:LINE: what is wrong" in err.
    using Reader = std::function<bool(Config &next, std::string &err)>;

    /// cfg: what the first workers serve, cfg.workers of them; listener is
    /// bound to cfg's port (systemd's socket when socketActivated).
    Master(const Config &cfg, Fd listener, bool socketActivated, Reader reread,
           Worker worker);

    /// Binds a socket per worker, forks the workers and waits until each
    /// one serves. False if one could not start (its stderr said why); the
    /// others are then stopped.
    bool start();
    /// Supervises until a stop signal and the workers' exit; returns the
    /// exit status: 0 when every worker exited 0.
    int run();

  private:
    /// The workers that serve one configuration, and the master's copies
    /// of their listeners, held until the generation is replaced or a
    /// stop begins, so that a worker that replaces a dead one takes the
    /// same socket, with the connections that waited in its queue.
    struct Generation {
        Config cfg;
        std::vector<Fd> listeners; // one per worker
        std::vector<pid_t> pids; // each listener's worker; 0: none
    };

    bool addListeners(const Config &cfg, std::vector<Fd> &listeners,
                      std::string &err) const;
    bool listenersFor(Config &next, std::vector<Fd> &listeners,
                      std::string &err) const;
    bool startGeneration();
    void spawn(size_t slot, bool awaited);
    void handle(const siginfo_t &info);
    void reload();
    void replaceGeneration(const Config &next, std::vector<Fd> listeners);
    void retire(Generation &gen);
    void reapWorkers();
    void replace(size_t slot, pid_t dead, int status);
    void beginStop();
    bool anyWorker() const;

    Generation current_; // serves, and is what a dead worker's successor runs
    // During a reload, the generation the new one replaces; empty after.
    Generation previous_;
    std::vector<pid_t> retiring_; // workers told to stop, not reaped yet
    // The pipe a new generation says it serves through, while
    // startGeneration() waits: the master's ends, which each worker closes.
    Fd readyRead_;
    Fd readyWrite_;
    const bool socketActivated_; // every listener is systemd's socket
    Reader reread_;
    Worker worker_;
    int restartsLeft_ = 0; // workers that may still replace a dead one
    bool stopping_ = false;
    int status_ = 0;
};

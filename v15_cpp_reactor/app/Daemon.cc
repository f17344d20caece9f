/// Daemon: the classic steps to become a daemon, each with its reason, plus
/// the one most versions skip: telling the launcher whether startup worked.
/// A port of v14's daemon.c; failures are returned, not died on.
#include "app/Daemon.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "base/Failure.h"
#include "base/Fd.h"
#include "base/Logger.h"

namespace
{

const char kReadyPrefix[] = "listening on ";

Fd pidfileFd;
pid_t pidfileOwner; // the process whose pid is in the file
std::string pidfilePath;

/// The launcher's side: copies what the daemon prints until the pipe
/// closes. The ready line goes to stdout, anything else to stderr.
[[noreturn]] void relayUntilReady(int fromDaemon)
{
    FILE *in = fdopen(fromDaemon, "r");
    char line[1024];
    bool ready = false;
    while (in != nullptr && fgets(line, sizeof line, in) != nullptr) {
        if (strncmp(line, kReadyPrefix, sizeof kReadyPrefix - 1) == 0) {
            fputs(line, stdout);
            ready = true;
        } else {
            fputs(line, stderr);
        }
    }
    if (!ready)
        Log::error("the daemon did not start");
    exit(ready ? 0 : 1);
}

bool redirect(int fd, const char *path, int flags, std::string &err)
{
    Fd tmp(open(path, flags));
    if (!tmp || dup2(tmp.get(), fd) < 0) {
        err = failure(std::string("daemon: ") + path);
        return false;
    }
    if (tmp.get() == fd)
        tmp.release(); // it is already where it belongs
    return true;
}

/// Runs at exit(): a clean stop, or a failed start. Only the process that
/// wrote its pid removes the file; the launcher, which exits with exit()
/// too, leaves it to the daemon.
void removePidfile()
{
    if (pidfileOwner == getpid())
        unlink(pidfilePath.c_str());
}

} // namespace

namespace Daemon
{

bool daemonize(std::string &err)
{
    int readyPipe[2];
    if (pipe(readyPipe) < 0) {
        err = failure("daemon: pipe");
        return false;
    }
    Fd toLauncher(readyPipe[1]);

    // Fork so the launcher can return to the shell, and so that the child
    // is not a process group leader: setsid() would fail for one.
    pid_t pid = fork();
    if (pid < 0) {
        err = failure("daemon: fork");
        return false;
    }
    if (pid > 0) {
        toLauncher.reset();
        waitpid(pid, nullptr, 0); // the middle child exits at once
        relayUntilReady(readyPipe[0]);
    }
    close(readyPipe[0]);

    // A new session with no controlling terminal: closing the terminal (and
    // its SIGHUP) no longer reaches us.
    if (setsid() < 0) {
        err = failure("daemon: setsid");
        return false;
    }

    // Fork again: a process that is not a session leader can never acquire
    // a controlling terminal by opening one.
    pid = fork();
    if (pid < 0) {
        err = failure("daemon: fork");
        return false;
    }
    if (pid > 0)
        _exit(0); // no atexit handlers: they belong to the daemon

    // Not keeping the launcher's directory busy (it could not be
    // unmounted), and file modes that do not depend on the launcher's umask.
    if (chdir("/") < 0) {
        err = failure("daemon: chdir /");
        return false;
    }
    umask(022);

    if (!redirect(STDIN_FILENO, "/dev/null", O_RDONLY, err))
        return false;
    if (dup2(toLauncher.get(), STDOUT_FILENO) < 0 ||
        dup2(toLauncher.get(), STDERR_FILENO) < 0) {
        err = failure("daemon: dup2");
        return false;
    }
    return true; // toLauncher closes: fds 1 and 2 now hold the pipe
}

bool ready(std::string &err)
{
    fflush(stdout); // the ready line, if printf left it in the buffer
    return redirect(STDOUT_FILENO, "/dev/null", O_WRONLY, err) &&
           redirect(STDERR_FILENO, "/dev/null", O_WRONLY, err);
}

/// flock, not fcntl: an fcntl lock vanishes when the process closes *any*
/// descriptor of the file, and an flock lock survives fork, so the lock
/// taken before daemonize() stays with the daemon.
bool lockPidfile(const std::string &path, std::string &err)
{
    pidfileFd.reset(open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644));
    if (!pidfileFd) {
        err = failure("pidfile " + path);
        return false;
    }
    if (flock(pidfileFd.get(), LOCK_EX | LOCK_NB) < 0) {
        char pid[32] = "";
        if (read(pidfileFd.get(), pid, sizeof pid - 1) > 0)
            pid[strcspn(pid, "\n")] = '\0';
        err = "pidfile " + path + ": locked by pid " + (pid[0] ? pid : "?") +
              ": is another server running?";
        pidfileFd.reset();
        return false;
    }
    // Remember the absolute path: the daemon changes directory to "/".
    char full[PATH_MAX];
    if (realpath(path.c_str(), full) == nullptr) {
        err = failure("pidfile " + path);
        return false;
    }
    pidfilePath = full;
    atexit(removePidfile);
    return true;
}

bool writePid(std::string &err)
{
    std::string pid = std::to_string(getpid()) + "\n";
    ssize_t n = static_cast<ssize_t>(pid.size());
    if (ftruncate(pidfileFd.get(), 0) < 0 ||
        pwrite(pidfileFd.get(), pid.data(), pid.size(), 0) != n) {
        err = failure("pidfile " + pidfilePath);
        return false;
    }
    pidfileOwner = getpid();
    return true;
}

} // namespace Daemon

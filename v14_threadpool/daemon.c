/* daemon.c: the classic steps to become a daemon, each with its reason, plus
 * the one most versions skip: telling the launcher whether startup worked. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "daemon.h"
#include "wrap.h"

#define READY_PREFIX "listening on "

static int pidfile_fd = -1;
static pid_t pidfile_owner; /* the process whose pid is in the file */
static char pidfile_path[PATH_MAX];

/* The launcher's side: copies what the daemon prints until the pipe closes.
 * Lines go to stdout if they are the ready line, to stderr otherwise. */
static void relay_until_ready(int from_daemon)
{
    FILE *in = fdopen(from_daemon, "r");
    char line[1024];
    int ready = 0;
    while (in != NULL && fgets(line, sizeof line, in) != NULL) {
        if (strncmp(line, READY_PREFIX, strlen(READY_PREFIX)) == 0) {
            fputs(line, stdout);
            ready = 1;
        } else {
            fputs(line, stderr);
        }
    }
    if (!ready)
        log_error("the daemon did not start");
    exit(ready ? 0 : 1);
}

static void redirect(int fd, const char *path, int flags)
{
    int tmp = open(path, flags);
    if (tmp < 0 || dup2(tmp, fd) < 0)
        die("daemon: %s: %s", path, strerror(errno));
    if (tmp != fd)
        close(tmp);
}

void daemonize(void)
{
    int ready_pipe[2];
    if (pipe(ready_pipe) < 0)
        die("daemon: pipe: %s", strerror(errno));

    /* Fork so the launcher can return to the shell, and so that the child is
     * not a process group leader: setsid() would fail for one. */
    pid_t pid = fork();
    if (pid < 0)
        die("daemon: fork: %s", strerror(errno));
    if (pid > 0) {
        close(ready_pipe[1]);
        waitpid(pid, NULL, 0); /* the middle child exits at once */
        relay_until_ready(ready_pipe[0]);
    }
    close(ready_pipe[0]);

    /* A new session with no controlling terminal: closing the terminal (and
     * its SIGHUP) no longer reaches us. */
    if (setsid() < 0)
        die("daemon: setsid: %s", strerror(errno));

    /* Fork again: a process that is not a session leader can never acquire a
     * controlling terminal by opening one. */
    pid = fork();
    if (pid < 0)
        die("daemon: fork: %s", strerror(errno));
    if (pid > 0)
        _exit(0);

    /* Not keeping the launcher's directory busy (it could not be unmounted),
     * and file modes that do not depend on the launcher's umask. */
    if (chdir("/") < 0)
        die("daemon: chdir /: %s", strerror(errno));
    umask(022);

    redirect(STDIN_FILENO, "/dev/null", O_RDONLY);
    if (dup2(ready_pipe[1], STDOUT_FILENO) < 0 ||
        dup2(ready_pipe[1], STDERR_FILENO) < 0)
        die("daemon: dup2: %s", strerror(errno));
    close(ready_pipe[1]);
}

void daemon_ready(void)
{
    fflush(stdout);
    redirect(STDOUT_FILENO, "/dev/null", O_WRONLY);
    redirect(STDERR_FILENO, "/dev/null", O_WRONLY);
}

/* Runs at exit(): a clean stop, or die() after a failed start. Only the
 * process that wrote its pid removes the file; the launcher, which exits
 * with exit() too, leaves it to the daemon. */
static void pidfile_remove(void)
{
    if (pidfile_owner == getpid())
        unlink(pidfile_path);
}

/* flock, not fcntl: an fcntl lock vanishes when the process closes *any*
 * descriptor of the file, and an flock lock survives fork, so the lock taken
 * before daemonize() stays with the daemon. */
void pidfile_lock(const char *path)
{
    pidfile_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (pidfile_fd < 0)
        die("pidfile %s: %s", path, strerror(errno));
    if (flock(pidfile_fd, LOCK_EX | LOCK_NB) < 0) {
        char pid[32] = "";
        if (read(pidfile_fd, pid, sizeof pid - 1) > 0)
            pid[strcspn(pid, "\n")] = '\0';
        die("pidfile %s: locked by pid %s: is another server running?", path,
            pid[0] ? pid : "?");
    }
    /* Remember the absolute path: the daemon changes directory to "/". */
    if (realpath(path, pidfile_path) == NULL)
        die("pidfile %s: %s", path, strerror(errno));
    atexit(pidfile_remove);
}

void pidfile_write(void)
{
    char pid[32];
    int n = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
    if (ftruncate(pidfile_fd, 0) < 0 ||
        pwrite(pidfile_fd, pid, (size_t)n, 0) != n)
        die("pidfile %s: %s", pidfile_path, strerror(errno));
    pidfile_owner = getpid();
}

// v15_fastcgi: fuzzes v15's FastCGI client with the input as php-fpm's
// reply. Its decoder is private and reads a socket, so this program plays
// php-fpm on a unix socket and drives FastCgi through its public door.
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>

#include "check.h"
#include "http/CgiResponse.h"
#include "http/FastCgi.h"
#include "http/FastCgiPool.h"
#include "http/StaticFiles.h"
#include "net/EventLoop.h"

namespace
{

// More than one socket buffer could make our own write block: the reply is
// written before the loop that reads it runs.
constexpr size_t kMaxInput = 64 * 1024;

/// The fake php-fpm: a listening unix socket, made once, removed at exit.
struct App {
    std::string path;
    int listenFd = -1;
    std::unique_ptr<StaticFiles> files; // answers local redirects
    CgiSettings settings;

    App()
    {
        path = "/tmp/fuzz-fastcgi-" + std::to_string(getpid()) + ".sock";
        sockaddr_un addr{};
        addr.sun_family = AF_UNIX;
        std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path.c_str());
        unlink(path.c_str());
        listenFd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
        CHECK(listenFd >= 0);
        CHECK(bind(listenFd, reinterpret_cast<sockaddr *>(&addr),
                   sizeof addr) == 0);
        CHECK(listen(listenFd, 16) == 0);
        std::string err;
        int rootFd = StaticFiles::openRoot(FUZZ_WWW, err);
        CHECK(rootFd >= 0);
        files = std::make_unique<StaticFiles>(rootFd, "index.html");
        settings.fastcgiPass = "unix:" + path;
        // Our side always closes: an answer must come long before this.
        settings.fastcgiTimeout = 5;
    }
    ~App()
    {
        unlink(path.c_str());
    }
};

/// What the answer should be, from a second, simpler reading of the
/// records: the CGI response in the STDOUT stream if the reply ends with
/// END_REQUEST saying REQUEST_COMPLETE, else 502.
int expectedStatus(const uint8_t *p, size_t size, StaticFiles &files)
{
    std::string out;
    for (size_t pos = 0; size - pos >= 8;) {
        const uint8_t *h = p + pos;
        size_t content = size_t(h[4]) << 8 | h[5];
        if (h[0] != 1 || h[2] != 0 || h[3] != 1 ||
            size - pos - 8 < content + h[6])
            return 502;
        if (h[1] == 6) // STDOUT
            out.append(reinterpret_cast<const char *>(h + 8), content);
        else if (h[1] == 3 && content == 8) { // END_REQUEST
            if (h[8 + 4] != 0) // protocolStatus
                return 502;
            HttpResponse resp;
            return makeCgiResponse(out, files, "index.html", resp) ? resp.status
                                                                   : 502;
        } else if (h[1] != 7) // anything but STDERR
            return 502;
        pos += 8 + content + h[6];
    }
    return 502; // the connection closed before END_REQUEST
}

void sendAll(int fd, const uint8_t *p, size_t n)
{
    // MSG_NOSIGNAL: FastCgi may have closed its end already.
    while (n > 0) {
        ssize_t sent = send(fd, p, n, MSG_NOSIGNAL);
        if (sent <= 0)
            return;
        p += sent;
        n -= size_t(sent);
    }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static App app;
    if (size > kMaxInput)
        return 0;

    EventLoop loop;
    FastCgiPool pool(&loop, 1); // keeps the connection of a whole reply
    int answers = 0, status = 0;
    ScriptRequest req;
    req.path = "/fuzz.php";
    req.filename = "/fuzz.php";
    auto task = std::make_shared<FastCgi>(&loop, app.settings, *app.files, pool,
                                          req, [&](HttpResponse &&resp) {
                                              answers++;
                                              status = resp.status;
                                              loop.quit();
                                          });
    task->submit(); // connects to us: the connection waits in the backlog
    int peer = accept4(app.listenFd, nullptr, nullptr, SOCK_CLOEXEC);
    // The reply in two pieces, cut where the first byte says: the first
    // before the loop runs, the rest from a timer due at once, which runs
    // after the loop's first wait (usually after FastCgi read the first
    // piece), so that records are split across reads. Not queueInLoop: a
    // functor queued on the loop's own thread waits for an event, and
    // FastCgi may have none yet (nothing to read, its records all sent).
    size_t cut = size == 0 ? 0 : size_t(data[0]) * size / 255;
    if (peer >= 0) {
        sendAll(peer, data, cut);
        loop.runAfter(0, [&] {
            sendAll(peer, data + cut, size - cut);
            shutdown(peer, SHUT_WR); // end of the reply, as php-fpm's close
        });
    }
    if (answers == 0)
        loop.loop();
    if (peer >= 0)
        close(peer);
    task.reset();

    CHECK(answers == 1);
    CHECK(peer < 0 || status == expectedStatus(data, size, *app.files));
    return 0;
}

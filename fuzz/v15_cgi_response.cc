// v15_cgi_response: fuzzes makeCgiResponse, which turns what a CGI script
// or php-fpm printed into an HttpResponse, with the input as that output.
// It checks the promises: a refusal leaves resp alone; nothing splits it.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "check.h"
#include "http/CgiResponse.h"
#include "http/StaticFiles.h"

namespace
{

/// The headers passed on to the client: whole lines, each ending in CR LF,
/// with no other CR or LF, which would split our response in two.
void checkHeaderLines(const std::string &h)
{
    CHECK(h.empty() || h.back() == '\n');
    for (size_t i = 0; i < h.size(); i++) {
        if (h[i] == '\r')
            CHECK(i + 1 < h.size() && h[i + 1] == '\n');
        if (h[i] == '\n')
            CHECK(i > 0 && h[i - 1] == '\r');
    }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    // A Location such as /index.html is answered with that file.
    static const int rootFd = [] {
        std::string err;
        int fd = StaticFiles::openRoot(FUZZ_WWW, err);
        CHECK(fd >= 0);
        return fd;
    }();
    static StaticFiles files(rootFd, "index.html");
    std::string output(reinterpret_cast<const char *>(data), size);
    HttpResponse resp;
    resp.status = 299; // what a refusal must leave as it was
    resp.headers = "X-Before: 1\r\n";
    if (!makeCgiResponse(output, files, "index.html", resp)) {
        CHECK(resp.status == 299 && resp.headers == "X-Before: 1\r\n");
        CHECK(resp.body.empty() && resp.contentType.empty());
        return 0;
    }
    CHECK(resp.status >= 200 && resp.status <= 599);
    checkHeaderLines(resp.headers);
    for (char c : resp.contentType)
        CHECK(c != '\r' && c != '\n');
    return 0;
}

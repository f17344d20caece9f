/// LoggerTest: the access log line exactly, read back from the file Log
/// writes through its back end: the combined format, "-" for what is
/// missing, and what a client sent escaped so it can neither end a quoted
/// field early nor forge a line. Also Log::parseLevel.
#include <unistd.h>

#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "base/Logger.h"
#include "tests/Check.h"

namespace
{

struct Expected {
    Log::AccessRecord record;
    std::string line; // with "T" for the time between the brackets
};

std::vector<Expected> cases()
{
    std::vector<Expected> c(5);
    c[0].record = {
        "10.0.0.7", "GET", "/a/b?x=1&y=2",        1,
        200,        512,   "http://ref.example/", "Mozilla/5.0 (X11)"};
    c[0].line = "10.0.0.7 - - [T] \"GET /a/b?x=1&y=2 HTTP/1.1\" 200 512 "
                "\"http://ref.example/\" \"Mozilla/5.0 (X11)\"";
    // No Referer, no User-Agent: "-"; HTTP/1.0.
    c[1].record = {"10.0.0.7", "HEAD", "/", 0, 304, 0, {}, {}};
    c[1].line = "10.0.0.7 - - [T] \"HEAD / HTTP/1.0\" 304 0 \"-\" \"-\"";
    // A quote, a backslash, control bytes and bytes past ASCII in every
    // field a client writes become \xHH.
    c[2].record = {"10.0.0.7",
                   "G\"T",
                   "/q\"x\\y\x01\x7f\xc3\xa9",
                   1,
                   404,
                   9,
                   "a\"b\\c",
                   "ua\r\n10.0.0.8 - - [T] \"GET /forged"};
    c[2].line = "10.0.0.7 - - [T] \"G\\x22T /q\\x22x\\x5Cy\\x01\\x7F\\xC3\\xA9 "
                "HTTP/1.1\" 404 9 \"a\\x22b\\x5Cc\" "
                "\"ua\\x0D\\x0A10.0.0.8 - - [T] \\x22GET /forged\"";
    // A request line too bad to have a method.
    c[3].record = {"10.0.0.9", {}, {}, 1, 400, 150, {}, {}};
    c[3].line = "10.0.0.9 - - [T] \"-\" 400 150 \"-\" \"-\"";
    // An escape at either end of a field.
    c[4].record = {"10.0.0.7", "GET", "\x1f/x\x7f", 1, 200, 1, "\"", "\\"};
    c[4].line = "10.0.0.7 - - [T] \"GET \\x1F/x\\x7F HTTP/1.1\" 200 1 "
                "\"\\x22\" \"\\x5C\"";
    return c;
}

/// The time as the line has it, for t: TZ is UTC.
std::string bracketed(time_t t)
{
    char text[64];
    struct tm tm;
    strftime(text, sizeof text, "[%d/%b/%Y:%H:%M:%S +0000]", gmtime_r(&t, &tm));
    return text;
}

void testAccessLines(const std::string &path)
{
    std::vector<Expected> expected = cases();
    time_t before = time(nullptr);
    for (const Expected &e : expected)
        Log::access(e.record);
    Log::stop(); // writes what the back end holds
    time_t after = time(nullptr);

    std::ifstream in(path);
    std::string line;
    size_t n = 0;
    while (std::getline(in, line)) {
        size_t open = line.find('['), close = line.find(']');
        std::string when =
            open < close ? line.substr(open, close - open + 1) : std::string();
        CHECK(when == bracketed(before) || when == bracketed(after));
        if (open < close)
            line.replace(open + 1, close - open - 1, "T");
        if (CHECK(n < expected.size()))
            CHECK_EQ(line, expected[n].line);
        n++;
    }
    CHECK_EQ(n, expected.size());
}

void testParseLevel()
{
    Log::Level level = Log::kInfo;
    CHECK(Log::parseLevel("error", level) && level == Log::kError);
    CHECK(Log::parseLevel("warn", level) && level == Log::kWarn);
    CHECK(Log::parseLevel("info", level) && level == Log::kInfo);
    for (const char *bad : {"debug", "", "Error", "warning", "war", "info "})
        CHECK(!Log::parseLevel(bad, level) && level == Log::kInfo);
}

} // namespace

int main()
{
    setenv("TZ", "UTC", 1);
    tzset();
    char dir[] = "/tmp/loggertest.XXXXXX";
    if (mkdtemp(dir) == nullptr) {
        perror("mkdtemp");
        return 1;
    }
    Log::Settings settings;
    settings.accessLog = std::string(dir) + "/access.log";
    std::string err;
    if (CHECK(Log::open(settings, err))) {
        Log::start();
        testAccessLines(settings.accessLog);
    }
    testParseLevel();
    std::filesystem::remove_all(dir);
    return check::result("LoggerTest");
}

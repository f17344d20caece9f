/// HttpResponse: turning an answer into its head, error pages, reason
/// phrases and HTTP dates. Nothing here touches a socket.
#include "http/HttpResponse.h"

#include <charconv>
#include <cstdio>
#include <cstring>

#include "base/Timestamp.h"
#include "net/Buffer.h"

namespace
{

constexpr const char *kServerName = "reactor-course";

struct Reason {
    int status;
    const char *text;
};

constexpr Reason kReasons[] = {
    {200, "OK"},
    {201, "Created"},
    {204, "No Content"},
    {206, "Partial Content"},
    {301, "Moved Permanently"},
    {302, "Found"},
    {303, "See Other"},
    {304, "Not Modified"},
    {307, "Temporary Redirect"},
    {400, "Bad Request"},
    {401, "Unauthorized"},
    {403, "Forbidden"},
    {404, "Not Found"},
    {405, "Method Not Allowed"},
    {408, "Request Timeout"},
    {409, "Conflict"},
    {410, "Gone"},
    {413, "Content Too Large"},
    {414, "URI Too Long"},
    {417, "Expectation Failed"},
    {416, "Range Not Satisfiable"},
    {422, "Unprocessable Content"},
    {429, "Too Many Requests"},
    {431, "Request Header Fields Too Large"},
    {500, "Internal Server Error"},
    {501, "Not Implemented"},
    {502, "Bad Gateway"},
    {503, "Service Unavailable"},
    {504, "Gateway Timeout"},
    {505, "HTTP Version Not Supported"},
};

constexpr const char *kDayNames[] = {"Sun", "Mon", "Tue", "Wed",
                                     "Thu", "Fri", "Sat"};
constexpr const char *kLongDayNames[] = {"Sunday",    "Monday",   "Tuesday",
                                         "Wednesday", "Thursday", "Friday",
                                         "Saturday"};
constexpr const char *kMonthNames[] = {"Jan", "Feb", "Mar", "Apr",
                                       "May", "Jun", "Jul", "Aug",
                                       "Sep", "Oct", "Nov", "Dec"};

/// The IMF-fixdate of t into out (29 characters and a NUL). Formatted by
/// hand: strftime's %a and %b would follow the locale.
void formatDate(time_t t, char out[32])
{
    struct tm tm;
    gmtime_r(&t, &tm);
    snprintf(out, 32, "%s, %02d %s %04d %02d:%02d:%02d GMT",
             kDayNames[tm.tm_wday], tm.tm_mday, kMonthNames[tm.tm_mon],
             tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

/// Now's Date value. Every response needs one, and within a second they
/// are all the same: each thread formats it once per second.
const char *currentDate()
{
    thread_local time_t cachedSecond = -1;
    thread_local char cachedText[32];
    time_t now = Timestamp::wallSeconds();
    if (now != cachedSecond) {
        formatDate(now, cachedText);
        cachedSecond = now;
    }
    return cachedText;
}

/// RFC 9110 8.6: no Content-Length on 1xx and 204, ever. On 304 it may only
/// repeat the 200's length; this server sends none there, as nginx does, so
/// a 304 never needs the file's size to be right.
bool sendsContentLength(int status)
{
    return status >= 200 && status != 204 && status != 304;
}

void appendNumber(Buffer &out, long long n)
{
    char digits[24];
    auto result = std::to_chars(digits, digits + sizeof digits, n);
    out.append(digits, size_t(result.ptr - digits));
}

void appendHeader(Buffer &out, std::string_view name, std::string_view value)
{
    out.append(name);
    out.append(": ", 2);
    out.append(value);
    out.append("\r\n", 2);
}

} // namespace

void HttpResponse::addHeader(std::string_view name, std::string_view value)
{
    headers.append(name).append(": ").append(value).append("\r\n");
}

void HttpResponse::setError(int code)
{
    std::string title = std::to_string(code) + " " + reasonPhrase(code);
    status = code;
    contentType = "text/html; charset=utf-8";
    file.reset();
    fileOffset = fileLength = 0;
    bodyView = {};
    body = "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>" +
           title + "</title></head>\n<body>\n<h1>" + title +
           "</h1>\n</body></html>\n";
}

// The next answer most likely sends as many header lines: reusing their
// memory is what makes a cached file's answer allocate nothing. The body's
// memory goes: an /echo body may be as large as max_body_size.
void HttpResponse::clear()
{
    std::string type = std::move(contentType);
    std::string lines = std::move(headers);
    type.clear();
    lines.clear();
    *this = HttpResponse();
    contentType = std::move(type);
    headers = std::move(lines);
}

long long HttpResponse::contentLength() const
{
    return file ? static_cast<long long>(fileLength)
                : static_cast<long long>(bodyBytes().size());
}

void HttpResponse::appendHead(Buffer &out) const
{
    out.append("HTTP/1.1 ", 9);
    appendNumber(out, status);
    out.append(" ", 1);
    out.append(reasonPhrase(status));
    out.append("\r\n", 2);
    appendHeader(out, "Server", kServerName);
    appendHeader(out, "Date", currentDate());
    if (!contentType.empty())
        appendHeader(out, "Content-Type", contentType);
    if (sendsContentLength(status)) {
        out.append("Content-Length: ", 16);
        appendNumber(out, contentLength());
        out.append("\r\n", 2);
    }
    out.append(headers);
    if (connection != nullptr)
        appendHeader(out, "Connection", connection);
    out.append("\r\n", 2);
}

const char *reasonPhrase(int status)
{
    for (const Reason &r : kReasons)
        if (r.status == status)
            return r.text;
    static const char *const kClasses[] = {"Informational", "Success",
                                           "Redirection", "Client Error",
                                           "Server Error"};
    return status >= 100 && status <= 599 ? kClasses[status / 100 - 1]
                                          : "Unknown";
}

std::string httpDate(time_t t)
{
    char text[32];
    formatDate(t, text);
    return text;
}

namespace
{

/// A cursor over a date being parsed: each step consumes what it expects
/// or fails, so the three formats read as their grammars.
class DateReader
{
  public:
    explicit DateReader(std::string_view text) : text_(text) {}

    bool literal(std::string_view s)
    {
        if (text_.substr(0, s.size()) != s)
            return false;
        text_.remove_prefix(s.size());
        return true;
    }
    /// Exactly width digits (a leading space counts as a zero where the
    /// asctime form pads the day with one).
    bool number(int width, int &out, bool spacePadded = false)
    {
        if (text_.size() < size_t(width))
            return false;
        out = 0;
        for (int i = 0; i < width; i++) {
            char c = text_[size_t(i)];
            if (spacePadded && i == 0 && c == ' ')
                c = '0';
            if (c < '0' || c > '9')
                return false;
            out = out * 10 + (c - '0');
        }
        text_.remove_prefix(size_t(width));
        return true;
    }
    /// One of names; out is its index.
    template <size_t N> bool name(const char *const (&names)[N], int &out)
    {
        for (size_t i = 0; i < N; i++)
            if (literal(names[i])) {
                out = int(i);
                return true;
            }
        return false;
    }
    bool time(struct tm &tm)
    {
        return number(2, tm.tm_hour) && literal(":") && number(2, tm.tm_min) &&
               literal(":") && number(2, tm.tm_sec);
    }
    bool atEnd() const
    {
        return text_.empty();
    }

  private:
    std::string_view text_;
};

/// RFC 9110 5.6.7: a two-digit year more than 50 years ahead is in the
/// past century.
int fullYear(int twoDigits)
{
    struct tm now;
    time_t t = Timestamp::wallSeconds();
    gmtime_r(&t, &now);
    int year = now.tm_year + 1900;
    int candidate = year - year % 100 + twoDigits;
    return candidate > year + 50 ? candidate - 100 : candidate;
}

time_t toTime(struct tm &tm)
{
    if (tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour > 23 ||
        tm.tm_min > 59 || tm.tm_sec > 60)
        return -1;
    return timegm(&tm);
}

} // namespace

// IMF-fixdate "Sun, 06 Nov 1994 08:49:37 GMT", and the two obsolete forms
// a recipient must still accept (RFC 9110 5.6.7): RFC 850's
// "Sunday, 06-Nov-94 08:49:37 GMT" and asctime's "Sun Nov  6 08:49:37 1994".
time_t parseHttpDate(std::string_view text)
{
    struct tm tm = {};
    int day;
    DateReader imf(text);
    if (imf.name(kDayNames, day) && imf.literal(", ") &&
        imf.number(2, tm.tm_mday) && imf.literal(" ") &&
        imf.name(kMonthNames, tm.tm_mon) && imf.literal(" ") &&
        imf.number(4, tm.tm_year) && imf.literal(" ") && imf.time(tm) &&
        imf.literal(" GMT") && imf.atEnd()) {
        tm.tm_year -= 1900;
        return toTime(tm);
    }
    DateReader rfc850(text);
    if (rfc850.name(kLongDayNames, day) && rfc850.literal(", ") &&
        rfc850.number(2, tm.tm_mday) && rfc850.literal("-") &&
        rfc850.name(kMonthNames, tm.tm_mon) && rfc850.literal("-") &&
        rfc850.number(2, tm.tm_year) && rfc850.literal(" ") &&
        rfc850.time(tm) && rfc850.literal(" GMT") && rfc850.atEnd()) {
        tm.tm_year = fullYear(tm.tm_year) - 1900;
        return toTime(tm);
    }
    DateReader asc(text);
    if (asc.name(kDayNames, day) && asc.literal(" ") &&
        asc.name(kMonthNames, tm.tm_mon) && asc.literal(" ") &&
        asc.number(2, tm.tm_mday, true) && asc.literal(" ") && asc.time(tm) &&
        asc.literal(" ") && asc.number(4, tm.tm_year) && asc.atEnd()) {
        tm.tm_year -= 1900;
        return toTime(tm);
    }
    return -1;
}

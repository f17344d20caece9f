/// Check: the unit tests' assertions, two macros instead of a framework. A
/// failed check prints where it is and what came back, and the test goes
/// on; main returns check::result(), non-zero if anything failed.
#pragma once

#include <cstdio>
#include <sstream>
#include <string>
#include <string_view>
#include <type_traits>

namespace check
{

struct Counts {
    int checks = 0;
    int failures = 0;
};

inline Counts &counts()
{
    static Counts c;
    return c;
}

/// Text quoted, with line ends and other control bytes made visible: what
/// a parser test most often needs to see.
inline std::string quoted(std::string_view text)
{
    std::string out = "\"";
    for (unsigned char c : text) {
        if (c == '\r')
            out += "\\r";
        else if (c == '\n')
            out += "\\n";
        else if (c < ' ' || c >= 0x7f)
            out += "\\x" + std::string(1, "0123456789abcdef"[c >> 4]) +
                   "0123456789abcdef"[c & 15];
        else
            out += char(c);
    }
    return out + "\"";
}

template <typename T> std::string show(const T &value)
{
    if constexpr (std::is_convertible_v<const T &, std::string_view>) {
        return check::quoted(value);
    } else {
        std::ostringstream out;
        out << value;
        return out.str();
    }
}

inline bool record(bool ok, const char *file, int line, const char *what,
                   const std::string &detail = "")
{
    counts().checks++;
    if (!ok) {
        counts().failures++;
        std::fprintf(stderr, "%s:%d: CHECK failed: %s%s%s\n", file, line, what,
                     detail.empty() ? "" : "\n    ", detail.c_str());
    }
    return ok;
}

/// Prints the tally; main's exit status.
inline int result(const char *testName)
{
    const Counts &c = counts();
    if (c.failures == 0)
        std::printf("%s: all %d checks passed\n", testName, c.checks);
    else
        std::printf("%s: %d of %d checks failed\n", testName, c.failures,
                    c.checks);
    return c.failures == 0 ? 0 : 1;
}

} // namespace check

/// Both evaluate to whether the check passed, so a test can stop early.
#define CHECK(cond) check::record(bool(cond), __FILE__, __LINE__, #cond)

#define CHECK_EQ(a, b)                                                         \
    [&](const auto &left, const auto &right) {                                 \
        bool equal = left == right;                                            \
        return check::record(equal, __FILE__, __LINE__, #a " == " #b,          \
                             equal ? std::string()                             \
                                   : check::show(left) + " vs " +              \
                                         check::show(right));                  \
    }((a), (b))

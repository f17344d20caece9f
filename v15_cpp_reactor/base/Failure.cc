#include "base/Failure.h"

#include <cerrno>
#include <cstring>

std::string failure(const std::string &what)
{
    return what + ": " + std::strerror(errno);
}

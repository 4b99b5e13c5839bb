#pragma once
// Byte counts as people read them in messages and progress lines: "812 bytes", "15.9 KiB",
// "62.2 MiB", "1.25 GiB" (binary units).
#include <cstdint>
#include <string>

namespace avtrain::core {

std::string byte_text(uint64_t bytes);

}  // namespace avtrain::core

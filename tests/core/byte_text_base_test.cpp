// Byte counts in messages, torch-free (also run under AddressSanitizer).
#include <gtest/gtest.h>

#include "core/byte_text.h"

namespace avtrain::core {
namespace {

TEST(ByteText, PicksTheLargestBinaryUnitBelowTheCount) {
  EXPECT_EQ(byte_text(0), "0 bytes");
  EXPECT_EQ(byte_text(1023), "1023 bytes");
  EXPECT_EQ(byte_text(1024), "1.0 KiB");
  EXPECT_EQ(byte_text(63693), "62.2 KiB");
  EXPECT_EQ(byte_text(uint64_t{5} << 20), "5.0 MiB");
  EXPECT_EQ(byte_text((uint64_t{5} << 30) / 4), "1.25 GiB");
}

}  // namespace
}  // namespace avtrain::core

// The safetensors reader (core/safetensors.h) on any file: header length, header JSON, dtypes, shapes,
// offsets; every entry's bytes lie inside the mapping and match its dtype and shape.
#include <cstddef>
#include <cstdint>

#include "core/safetensors.h"
#include "fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace avtrain;
  const fuzz::InputFile input(data, size);
  try {
    const auto file = core::SafetensorsFile::open(input.path());
    for (const auto& entry : file.entries()) {
      const auto bytes = file.bytes(entry);
      if (bytes.size() != entry.nbytes) std::abort();
      if (static_cast<uint64_t>(entry.numel()) * core::dtype_size(entry.dtype) != entry.nbytes) std::abort();
      if (file.find(entry.name) != &entry) std::abort();
    }
    for (const auto& [key, value] : file.metadata()) (void)key, (void)value;
  } catch (const core::Error& error) {
    fuzz::check_refusal(error);
  }
  return 0;
}

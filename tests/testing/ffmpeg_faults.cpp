// FFmpeg faults on demand, for the tests of refusals no crafted file can reach (issue 29): loaded into
// the avtrain binary with LD_PRELOAD, it stands in front of FFmpeg calls the binary makes.
//   AVTRAIN_FAULT_FILE=<text>       the faults apply to inputs whose URL contains <text>
//   AVTRAIN_FAULT_READ_AFTER=<n>    av_read_frame on such an input fails with EIO after n packets
//   AVTRAIN_FAULT_CODEC_OPEN=1      avcodec_open2 fails with ENOMEM (once such an input was opened)
// Without the variables every call goes straight to FFmpeg. Opaque pointers: it needs no FFmpeg
// headers, only the functions' signatures (C linkage).
#include <dlfcn.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace {

constexpr int kMaxInputs = 64;
void* faulty_inputs[kMaxInputs];  // the AVFormatContext* of matching inputs
long packets_read[kMaxInputs];
bool opened_faulty_input = false;

int matching_input(void* context) {
  for (int i = 0; i < kMaxInputs; ++i)
    if (faulty_inputs[i] == context) return i;
  return -1;
}

template <typename Function>
Function* next(const char* name) {
  return reinterpret_cast<Function*>(dlsym(RTLD_NEXT, name));
}

}  // namespace

extern "C" {

int avformat_open_input(void** context, const char* url, void* format, void** options) {
  auto* real = next<int(void**, const char*, void*, void**)>("avformat_open_input");
  const int status = real(context, url, format, options);
  const char* fault_file = std::getenv("AVTRAIN_FAULT_FILE");
  if (status >= 0 && fault_file && url && std::strstr(url, fault_file)) {
    opened_faulty_input = true;
    for (int i = 0; i < kMaxInputs; ++i) {
      if (faulty_inputs[i] == nullptr) {
        faulty_inputs[i] = *context;
        packets_read[i] = 0;
        break;
      }
    }
  }
  return status;
}

void avformat_close_input(void** context) {
  auto* real = next<void(void**)>("avformat_close_input");
  const int index = context ? matching_input(*context) : -1;
  if (index >= 0) faulty_inputs[index] = nullptr;
  real(context);
}

int av_read_frame(void* context, void* packet) {
  auto* real = next<int(void*, void*)>("av_read_frame");
  const char* after = std::getenv("AVTRAIN_FAULT_READ_AFTER");
  const int index = matching_input(context);
  if (after && index >= 0 && packets_read[index] >= std::atol(after)) return -EIO;  // AVERROR(EIO)
  const int status = real(context, packet);
  if (status >= 0 && index >= 0) ++packets_read[index];
  return status;
}

int avcodec_open2(void* codec_context, const void* codec, void** options) {
  auto* real = next<int(void*, const void*, void**)>("avcodec_open2");
  if (opened_faulty_input && std::getenv("AVTRAIN_FAULT_CODEC_OPEN")) return -ENOMEM;  // AVERROR(ENOMEM)
  return real(codec_context, codec, options);
}

}  // extern "C"

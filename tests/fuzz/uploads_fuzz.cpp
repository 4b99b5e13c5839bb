// Uploads (service/uploads.h) driven by any sequence of client calls: initiate bodies, single and part
// bodies with any part numbers, complete bodies, and upload URLs to resolve. Every answer is JSON with a
// status; a resolved upload lies inside the uploads folder and belongs to the asking key.
#include <fuzzer/FuzzedDataProvider.h>

#include <nlohmann/json.hpp>

#include "fuzz_support.h"
#include "service/job_store.h"
#include "service/uploads.h"

namespace {

constexpr const char* kPublicUrl = "http://127.0.0.1:9";

void check_answer(const avtrain::service::UploadAnswer& answer) {
  if (answer.status < 200 || answer.status > 599) std::abort();
  (void)nlohmann::json::parse(answer.body);  // throws (a finding) when it is not JSON
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace avtrain;
  using namespace avtrain::service;
  static JobStore store(fuzz::scratch_dir() / "jobs.sqlite3");
  static Uploads uploads(store, {fuzz::scratch_dir() / "uploads", 4096, kPublicUrl});
  FuzzedDataProvider provider(data, size);
  std::vector<std::string> tokens = {std::string(32, 'a')};
  std::vector<std::string> urls = {std::string(kPublicUrl) + "/files/" + std::string(32, 'b') + "/x.zip"};
  const auto body_reader = [&provider](size_t chunk) {
    const std::string bytes = provider.ConsumeRandomLengthString(8192);
    return BodyReader([bytes, chunk](const std::function<bool(const char*, size_t)>& receive) {
      for (size_t at = 0; at < bytes.size(); at += chunk) {
        if (!receive(bytes.data() + at, std::min(chunk, bytes.size() - at))) return false;
      }
      return true;
    });
  };
  try {
    for (int step = 0; step < 16 && provider.remaining_bytes() > 0; ++step) {
      const std::string& token = tokens[provider.ConsumeIntegralInRange<size_t>(0, tokens.size() - 1)];
      switch (provider.ConsumeIntegralInRange(0, 4)) {
        case 0: {
          const auto answer =
              uploads.initiate(provider.ConsumeBool() ? "key-a" : "key-b",
                               provider.ConsumeRandomLengthString(256), provider.ConsumeBool());
          check_answer(answer);
          if (answer.status == 200) {
            const auto reply = nlohmann::json::parse(answer.body);
            const std::string upload_url = reply.at("upload_url");
            tokens.push_back(upload_url.substr(upload_url.rfind('/') + 1));
            urls.push_back(reply.at("file_url"));
          }
          break;
        }
        case 1:
          check_answer(
              uploads.write_file(token, body_reader(1 + provider.ConsumeIntegralInRange<size_t>(0, 999))));
          break;
        case 2:
          check_answer(uploads.write_part(token, provider.ConsumeIntegral<int>(), body_reader(512)));
          break;
        case 3:
          check_answer(uploads.complete(token, provider.ConsumeRandomLengthString(512)));
          break;
        default: {
          std::string url = urls[provider.ConsumeIntegralInRange<size_t>(0, urls.size() - 1)];
          url += provider.ConsumeRandomLengthString(16);
          if (!uploads.is_upload_url(url)) break;
          const std::string owner = provider.ConsumeBool() ? "key-a" : "key-b";
          const auto path = uploads.resolve(url, owner, "training_data_url");
          const auto relative = path.lexically_relative(fuzz::scratch_dir() / "uploads");
          if (relative.empty() || *relative.begin() == "..") std::abort();
        }
      }
    }
  } catch (const core::Error& error) {
    fuzz::check_refusal(error);
  }
  return 0;
}

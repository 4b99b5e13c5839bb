// The whole request contract (service/request/training_request.h) on any body, read lax (the service)
// and strict (validate --strict): a refusal's 422 body serializes; an accepted request's normalized
// form and description serialize, and the normalized form reads back as the same request. The try-it
// request (service/request/inference_request.h) on the same body, the same way.
#include <nlohmann/json.hpp>

#include "fuzz_support.h"
#include "service/request/inference_request.h"
#include "service/request/training_request.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace avtrain;
  using service::RequestParsing;
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  for (const auto parsing : {RequestParsing::lax, RequestParsing::strict}) {
    const auto check = service::check_training_request(body, service::LocalFilePolicy::allow_any(), parsing);
    if (!check.request) {
      if (check.problems.empty()) std::abort();
      fuzz::check_refusal(core::InvalidInput(check.problems));
      continue;
    }
    const auto normalized = service::to_json(*check.request);
    (void)service::describe_training_request(*check.request).dump();
    const auto again = service::check_training_request(
        normalized.dump(), service::LocalFilePolicy::allow_any(), RequestParsing::strict);
    if (!again.request || service::to_json(*again.request) != normalized) std::abort();
  }
  const auto try_it = service::check_inference_request(body, service::LocalFilePolicy::allow_any());
  if (!try_it.request) {
    if (try_it.problems.empty()) std::abort();
    fuzz::check_refusal(core::InvalidInput(try_it.problems));
  } else {
    const auto normalized = service::to_json(*try_it.request);
    const auto again =
        service::check_inference_request(normalized.dump(), service::LocalFilePolicy::allow_any());
    if (!again.request || service::to_json(*again.request) != normalized) std::abort();
  }
  return 0;
}

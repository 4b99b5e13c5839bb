// Locations and addresses (service/request/resource_location.h, service/network_address.h,
// service/fetch.h, service/webhook.h): the request's URLs and paths under each local-file policy,
// webhook URLs, redaction, file names, numeric addresses for the SSRF guard, percent-encoding.
#include <nlohmann/json.hpp>

#include "fuzz_support.h"
#include "service/fetch.h"
#include "service/network_address.h"
#include "service/request/field_reader.h"
#include "service/request/resource_location.h"
#include "service/webhook.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace avtrain;
  using namespace avtrain::service;
  const std::string text(reinterpret_cast<const char*>(data), size);
  static const auto allowed_root = fuzz::scratch_dir() / "allowed";
  for (const auto& policy : {LocalFilePolicy::allow_any(), LocalFilePolicy::allow_under(allowed_root),
                             LocalFilePolicy::refuse_all()}) {
    const auto check = check_location(text, "validation[0].reference_video_url", policy);
    if (check.location.has_value() == !check.msg.empty()) std::abort();  // one or the other
    if (!check.location)
      fuzz::check_refusal(core::InvalidInput({{field_loc("training_data_url"), check.msg, check.type}}));
    if (check.location && check.location->kind == LocationKind::local_file && !policy.allows_any() &&
        !policy.refusal(check.location->path).empty()) {
      std::abort();  // a local file the policy refuses was accepted
    }
  }
  if (const auto problem = webhook_url_problem(text)) {
    (void)nlohmann::json(*problem).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  }
  (void)redacted_url(text);
  (void)archive_file_name(text);
  (void)classify_address(text);
  if (percent_decode(url_path_segment(text)) != text) std::abort();
  (void)percent_decode(text);
  (void)field_loc(text);
  return 0;
}

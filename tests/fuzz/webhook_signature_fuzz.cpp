// Webhook signing (service/webhook_signing.h): a key file of any content is read or refused naming it;
// a readable one signs any body, and the JWKS serializes.
#include <fuzzer/FuzzedDataProvider.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "fuzz_support.h"
#include "service/webhook_signing.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace avtrain;
  FuzzedDataProvider provider(data, size);
  const auto file = fuzz::scratch_dir() / "webhook_keys.json";
  {
    std::ofstream out(file, std::ios::binary | std::ios::trunc);
    out << provider.ConsumeRandomLengthString(4096);
  }
  try {
    service::WebhookSigner signer(file);
    (void)signer.jwks().dump();
    const auto headers = signer.headers(provider.ConsumeRandomLengthString(64), "key-a",
                                        provider.ConsumeRemainingBytesAsString());
    if (headers.size() != 4) std::abort();
  } catch (const core::Error& error) {
    fuzz::check_refusal(error);
  }
  return 0;
}

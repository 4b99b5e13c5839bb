# The torch-free sources that read outside input and serve the queue (core's base, the request contract,
# archives, the store, the HTTP API, the job runner's workers, uploads, webhooks), compiled into one static library with a build's
# own instrumentation: the libFuzzer targets (tests/fuzz, ASan + UBSan + coverage) and the
# ThreadSanitizer tests (tests/tsan) each build it their way, without LibTorch.
#
#   avtrain_torch_free_service_library(NAME COMPILE_OPTIONS <flags> LINK_OPTIONS <flags>)
find_package(PkgConfig REQUIRED)
find_package(nlohmann_json 3.9 REQUIRED)
find_package(spdlog REQUIRED)
find_package(Threads REQUIRED)
find_package(CURL REQUIRED)
find_package(SQLite3 REQUIRED)
pkg_check_modules(LIBZIP REQUIRED IMPORTED_TARGET libzip)
pkg_check_modules(HTTPLIB REQUIRED IMPORTED_TARGET cpp-httplib)
pkg_check_modules(SODIUM REQUIRED IMPORTED_TARGET libsodium)

function(avtrain_torch_free_service_library name)
  cmake_parse_arguments(ARG "" "" "COMPILE_OPTIONS;LINK_OPTIONS" ${ARGN})
  set(src ${PROJECT_SOURCE_DIR}/src)
  add_library(${name} STATIC
    ${src}/core/error.cpp ${src}/core/log.cpp ${src}/core/progress.cpp ${src}/core/safetensors.cpp
    ${src}/core/float_formats.cpp ${src}/core/byte_text.cpp ${src}/core/utf8.cpp
    ${src}/train/lora_file.cpp
    ${src}/models/text/tokenizer.cpp
    ${src}/dataset/archive.cpp ${src}/dataset/pairs.cpp
    ${src}/service/request/billing.cpp ${src}/service/request/buckets.cpp
    ${src}/service/request/closest_name.cpp ${src}/service/request/config_file.cpp
    ${src}/service/request/field_reader.cpp ${src}/service/request/lax_scalars.cpp
    ${src}/service/request/inference_request.cpp ${src}/service/request/request_schema.cpp
    ${src}/service/request/resource_location.cpp ${src}/service/request/training_request.cpp
    ${src}/service/api_keys.cpp ${src}/service/checked_transfer.cpp ${src}/service/digest.cpp
    ${src}/service/elastic_task_queue.cpp ${src}/service/fetch.cpp ${src}/service/folder_lock.cpp
    ${src}/service/http_api.cpp ${src}/service/job.cpp ${src}/service/job_changes.cpp ${src}/service/job_runner.cpp
    ${src}/service/job_store.cpp ${src}/service/metrics_series.cpp ${src}/service/network_address.cpp
    ${src}/service/queue_errors.cpp
    ${src}/service/retention.cpp ${src}/service/shared_status_events.cpp ${src}/service/time_text.cpp
    ${src}/service/uploads.cpp ${src}/service/usage.cpp ${src}/service/webhook.cpp
    ${src}/service/webhook_signing.cpp)
  target_include_directories(${name} PUBLIC ${src})
  target_compile_options(${name} PUBLIC ${ARG_COMPILE_OPTIONS})
  target_link_options(${name} PUBLIC ${ARG_LINK_OPTIONS})
  target_link_libraries(${name} PUBLIC spdlog::spdlog nlohmann_json::nlohmann_json Threads::Threads
    CURL::libcurl SQLite::SQLite3 PkgConfig::LIBZIP PkgConfig::HTTPLIB PkgConfig::SODIUM)
endfunction()

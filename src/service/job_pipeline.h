#pragma once
// The whole training job (DESIGN.md "Job pipeline", issue 12): downloading -> preprocessing ->
// encoding -> training -> validating -> uploading, each stage writing its products into the job
// folder and marking itself finished in job.json, so that running the same job again on the same
// folder skips the finished stages, resumes training from the trainer's last checkpoint, and returns
// the stored result of a finished job without redoing anything.
//
//   const JobPaths paths(out_dir);
//   const auto outcome = run_recorded_job(request, paths, files, {device}, progress);  // result.json /
//   error.json
#include <torch/types.h>

#include <filesystem>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "core/error.h"
#include "dataset/dataset_check.h"
#include "dataset/dataset_options.h"
#include "models/checkpoint.h"
#include "service/fetch.h"
#include "service/job.h"
#include "service/request/training_request.h"

namespace avtrain::core {
class Progress;
}

namespace avtrain::service {

// For tests and the CPU demo only, never set from a request: the request's buckets (512x512 and up),
// frame counts and step minimum (100) are the product's contract and too slow for a CPU test of the
// whole pipeline. Each set value replaces the request's for preprocessing, training and validation;
// billing still describes the request as submitted, and config_file states what training used with
// the request beside it (DECISIONS.md §35).
struct JobOverrides {
  std::optional<int> width, height;  // multiples of 32
  std::optional<int> frames;         // 8k+1
  std::optional<int> steps;
};

// The dataset rules of a request (bucket, frames, rate, reference scaling, audio options, trigger
// phrase), at the request's sizes unless `overrides` replace them. One mapping for the job and the
// `avtrain dataset check` command.
dataset::DatasetOptions dataset_options(const TrainingRequest& request, const JobOverrides& overrides = {});

// A dataset checked before training (`avtrain dataset check`, the server's POST {prefix}/dataset-check):
// the report, and the options it was checked under (the size, frame count and rate pairs are fitted to).
struct DatasetCheck {
  dataset::DatasetReport report;
  dataset::DatasetOptions options;
};

// Fetches the archive at `archive_url` into `scratch_dir` (which the caller removes) and applies the
// dataset rules. Dataset problems are in the report; a download that fails throws (core::DownloadFailed,
// core::InvalidInput for a refused location).
DatasetCheck check_dataset_at(const std::string& archive_url, const dataset::DatasetOptions& options,
                              const FetchOptions& fetch, const std::filesystem::path& scratch_dir,
                              core::Progress* progress = nullptr);

// The server's answer: the report (dataset::to_json) with "fitted" {width, height, frames, frame_rate,
// reference_width, reference_height, reference_frames} and the "billing" the request will have when it
// delivers.
nlohmann::ordered_json dataset_check_json(const DatasetCheck& check, const TrainingRequest& request);

// What the CLI may fetch: any local file and any destination, the user owns the machine
// (DECISIONS.md §21). The server narrows both.
FetchOptions cli_fetch_options();

using PreviewListener = std::function<void(int64_t step, const std::filesystem::path& file)>;

struct JobOptions {
  torch::Device device = torch::kCPU;
  JobOverrides overrides;
  // Access of the training data and validation downloads (`field` is set per file).
  FetchOptions fetch = cli_fetch_options();
  // The URL of a delivered file in the result: file:// URLs when unset (the CLI), capability URLs in
  // the server (DECISIONS.md §30).
  std::function<std::string(const std::filesystem::path& file, const std::string& content_type)> file_url;
  // Each validation preview once it is written (previews/step_N.mp4), also those a resumed job finds
  // from an earlier run; the server lists them in the job's status.
  PreviewListener on_preview;
  // After each training step, with its wall-clock seconds (the server's steps-per-second metric).
  std::function<void(double step_seconds)> on_step;
};

// A delivered file as results describe it: {url (options.file_url, else file://), file_name, file_size,
// content_type}.
nlohmann::ordered_json file_entry(const std::filesystem::path& path, const std::string& content_type,
                                  const JobOptions& options);

// Runs (or continues) the job in `paths` and returns the result JSON in the hosted endpoint's shape:
// {"lora_file", "config_file", "video" (null without validation samples), "debug_dataset" (null unless
// asked), "billing": {"units", "cost_usd"}}, each file {url (file://, DECISIONS.md §30), file_name,
// file_size, content_type}. Throws core::Error on failure (core::InvalidInput when the folder holds
// another request's job).
nlohmann::ordered_json run_job(const TrainingRequest& request, const JobPaths& paths,
                               const models::ModelFiles& files, const JobOptions& options,
                               core::Progress& progress);

// run_job with its log in job.log, then result.json on success, or on failure error.json: the error's
// body ({"detail": [...]}, the 422 body for invalid input and rejected datasets) with "status" (the
// HTTP status) and "billing" {"units": 0, "cost_usd": "0.00"} (DECISIONS.md §32); no result then. The
// job folder is locked meanwhile (service/folder_lock.h): when another process runs in it, this throws
// core::InvalidInput naming that process and writes nothing.
JobRun run_recorded_job(const TrainingRequest& request, const JobPaths& paths,
                        const models::ModelFiles& files, const JobOptions& options, core::Progress& progress);

}  // namespace avtrain::service

#pragma once
// The config_file output of a training job (MISSION.md "Outputs", DECISIONS.md §27, §35): the trigger
// phrase, the training type and the settings training used, which a user needs to apply the LoRA, plus
// the request as normalized.

#include <cstdint>
#include <nlohmann/json_fwd.hpp>
#include <string_view>

#include "service/request/training_request.h"

namespace avtrain::service {

inline constexpr std::string_view kTrainingType = "av2av";

// The sizes a job trains and validates at: the request's, unless the operator's test/demo overrides
// (`avtrain serve --demo-*`, `train --demo-*`) replace them (service/job_pipeline.h JobOverrides).
struct TrainingShape {
  int width = 0, height = 0, frames = 0;
  int64_t steps = 0;
  double frame_rate = 24;
  int validation_width = 0, validation_height = 0, validation_frames = 0;
  double validation_frame_rate = 24;

  static TrainingShape of(const TrainingRequest& request);  // without overrides
};

// {"trigger_phrase", "training_type": "av2av", "base_model", "rank", "alpha", "reference_downscale_factor",
//  "reference_temporal_scale_factor", "number_of_frames", "frame_rate", "width", "height", "steps",
//  "learning_rate", "validation": {"width", "height", "number_of_frames", "frame_rate"},
//  "request": to_json(request)}: what training actually used (`trained`, DECISIONS.md §35), with the
// request as normalized beside it. `base_model` is the checkpoint's file name without its extension
// ("ltx-2.3-22b-dev"); alpha = rank (DECISIONS.md §22).
nlohmann::ordered_json make_config_file(const TrainingRequest& request, std::string_view base_model,
                                        const TrainingShape& trained);

}  // namespace avtrain::service

#pragma once
// The config_file output of a training job (MISSION.md "Outputs", DECISIONS.md §27): the trigger
// phrase, the training type and the settings a user needs to apply the LoRA, plus the request as
// normalized.

#include <nlohmann/json_fwd.hpp>
#include <string_view>

#include "service/request/training_request.h"

namespace avtrain::service {

inline constexpr std::string_view kTrainingType = "av2av";

// {"trigger_phrase", "training_type": "av2av", "base_model", "rank", "alpha", "reference_downscale_factor",
//  "reference_temporal_scale_factor", "number_of_frames", "frame_rate", "width", "height", "steps",
//  "learning_rate", "request": to_json(request)}. `base_model` is the checkpoint's file name without
// its extension ("ltx-2.3-22b-dev"); alpha = rank (DECISIONS.md §22).
nlohmann::ordered_json make_config_file(const TrainingRequest& request, std::string_view base_model);

}  // namespace avtrain::service

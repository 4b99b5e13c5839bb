#include "service/request/config_file.h"

#include <nlohmann/json.hpp>

namespace avtrain::service {

TrainingShape TrainingShape::of(const TrainingRequest& request) {
  const VideoSize size = request.training_size();
  const VideoSize validation = request.validation_size();
  return {size.width,
          size.height,
          request.number_of_frames,
          request.number_of_steps,
          static_cast<double>(request.frame_rate),
          validation.width,
          validation.height,
          request.validation_number_of_frames,
          static_cast<double>(request.validation_frame_rate)};
}

nlohmann::ordered_json make_config_file(const TrainingRequest& request, std::string_view base_model,
                                        const TrainingShape& trained) {
  nlohmann::ordered_json config;
  config["trigger_phrase"] = request.trigger_phrase;
  config["training_type"] = kTrainingType;
  config["base_model"] = base_model;
  config["rank"] = request.rank;
  config["alpha"] = request.rank;
  config["reference_downscale_factor"] = request.reference_downscale_factor;
  config["reference_temporal_scale_factor"] = request.reference_temporal_scale_factor;
  config["number_of_frames"] = trained.frames;
  config["frame_rate"] = trained.frame_rate;
  config["width"] = trained.width;
  config["height"] = trained.height;
  config["steps"] = trained.steps;
  config["learning_rate"] = request.learning_rate;
  config["validation"] = {{"width", trained.validation_width},
                          {"height", trained.validation_height},
                          {"number_of_frames", trained.validation_frames},
                          {"frame_rate", trained.validation_frame_rate}};
  config["request"] = to_json(request);
  return config;
}

}  // namespace avtrain::service

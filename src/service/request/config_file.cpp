#include "service/request/config_file.h"

#include <nlohmann/json.hpp>

namespace avtrain::service {

nlohmann::ordered_json make_config_file(const TrainingRequest& request, std::string_view base_model) {
  const VideoSize size = request.training_size();
  nlohmann::ordered_json config;
  config["trigger_phrase"] = request.trigger_phrase;
  config["training_type"] = kTrainingType;
  config["base_model"] = base_model;
  config["rank"] = request.rank;
  config["alpha"] = request.rank;
  config["reference_downscale_factor"] = request.reference_downscale_factor;
  config["reference_temporal_scale_factor"] = request.reference_temporal_scale_factor;
  config["number_of_frames"] = request.number_of_frames;
  config["frame_rate"] = request.frame_rate;
  config["width"] = size.width;
  config["height"] = size.height;
  config["steps"] = request.number_of_steps;
  config["learning_rate"] = request.learning_rate;
  config["request"] = to_json(request);
  return config;
}

}  // namespace avtrain::service

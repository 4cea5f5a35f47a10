// An on-demand array model (ondemand.h): its shared object, loaded with dlopen, as an ArrayModel
// (the output-stationary array) or a WsArrayModel (the weight-/input-stationary one).
#pragma once

#include <memory>
#include <string>

#include "array_model.h"

namespace lbfp::rtl {

class WsArrayModel;

// Throw ModelBuildError when the library cannot be loaded or exposes other ports.
std::unique_ptr<ArrayModel> load_dynamic_model(const std::string& library);
std::unique_ptr<WsArrayModel> load_dynamic_ws_model(const std::string& library);

}  // namespace lbfp::rtl

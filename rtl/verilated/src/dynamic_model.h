// An on-demand array model (ondemand.h): its shared object, loaded with dlopen, as an ArrayModel.
#pragma once

#include <memory>
#include <string>

#include "array_model.h"

namespace lbfp::rtl {

// Throws ModelBuildError when the library cannot be loaded or exposes other ports.
std::unique_ptr<ArrayModel> load_dynamic_model(const std::string& library);

}  // namespace lbfp::rtl

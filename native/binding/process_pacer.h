// The process's one pacer (pacer_binding.cpp), for the bindings that gate its queues.
#pragma once
#include "pacer.h"

namespace voxbridge {
vox::Pacer& processPacer();
}  // namespace voxbridge

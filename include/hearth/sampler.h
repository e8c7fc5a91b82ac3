// Transitional: the sampler's public header (moving here from src/sampling/).
#pragma once
#include "../../src/sampling/sampler.h"

// SplitMLA: split-KV multi-head latent attention decode. Umbrella header.
#pragma once

#include "splitmla/cp.hpp"
#include "splitmla/decode.hpp"
#include "splitmla/fixture.hpp"
#include "splitmla/fp8.hpp"
#include "splitmla/policy.hpp"
#include "splitmla/reference.hpp"
#include "splitmla/status.hpp"
#include "splitmla/types.hpp"
#include "splitmla/version.hpp"

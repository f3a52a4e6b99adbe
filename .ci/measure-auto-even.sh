#!/usr/bin/env bash
# The auto policy's even shape (lib/core/split_rule.hpp, switch SPLITMLA_AUTO_EVEN;
# lib/kernels/NOTES.md, "Sixteenth session") through .ci/measure-switch.sh: `.ci/device.sh tests
# replay`, the A/B (3 alternated rounds: the benchmark rows whose plan the shape changes and two
# whose plan it keeps), then memcheck, initcheck and racecheck of the decode case that plans the
# shape on the device and checks its pieces against the host rule. From the repository root on
# the GPU machine:
#   timeout 590 bash .ci/measure-auto-even.sh
AB_VAR=SPLITMLA_AUTO_EVEN SAN_TOOLS="memcheck initcheck racecheck" \
  AB_CASES=${AB_CASES:-H128_B32_L32k,H64_B16_L16k_p16,H16_B4_L128k,H128_B1_L128k,H128_B128_L4k,H16_B128_L4k} \
  SAN_SEL=--run_test=matches_reference/auto_even_shape_plans_as_the_host_rule_and_matches \
  exec bash "$(dirname "$0")/measure-switch.sh"

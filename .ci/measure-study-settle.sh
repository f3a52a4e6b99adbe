#!/usr/bin/env bash
# Is the study's order effect at heavy points (lib/kernels/NOTES.md, "Sixteenth session") the
# power management's short memory? The short grid three times: as is, with --settle-ms SETTLE_MS
# (default 500; the GPU idle that long before each policy is timed), as is again. From the
# repository root on the GPU machine:   SETTLE_MS=400 timeout 240 bash .ci/measure-study-settle.sh
exec bash "$(dirname "$0")/measure-study-runs.sh" "" "--settle-ms ${SETTLE_MS:-500}" ""

#!/usr/bin/env bash
# Does the order in which splitmla_study times a point's policies move its auto-against-forced
# comparison? The short grid four times, the default order (forced counts, then auto) alternated
# with --auto-first (lib/kernels/NOTES.md, "Sixteenth session"). From the repository root on the
# GPU machine:   timeout 400 bash .ci/measure-study-order.sh
exec bash "$(dirname "$0")/measure-study-runs.sh" "" --auto-first "" --auto-first

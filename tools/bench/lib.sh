# Shared helpers of the benchmark scripts (sourced, not run). Needs IDLE_WAIT (seconds) and
# BENCH_NAME (prefix of warnings) set by the caller.

# Percentage of all CPUs' time spent idle over the next 2 seconds.
idle_pct() {
  local a b i total=0
  read -ra a </proc/stat
  sleep 2
  read -ra b </proc/stat
  for i in 1 2 3 4 5 6 7 8; do total=$((total + b[i] - a[i])); done
  echo $((100 * (b[4] - a[4] + b[5] - a[5]) / (total > 0 ? total : 1)))
}

# Prints how idle the CPUs are, after waiting up to IDLE_WAIT seconds for >= 90 %.
wait_idle() {
  local deadline=$((SECONDS + ${IDLE_WAIT:-0})) p
  p=$(idle_pct)
  while [ "$p" -lt 90 ] && [ "$SECONDS" -lt "$deadline" ]; do
    sleep 5
    p=$(idle_pct)
  done
  [ "$p" -ge 90 ] || echo "${BENCH_NAME:-bench}: warning: CPUs only $p % idle; other processes skew the next timing" >&2
  echo "$p"
}

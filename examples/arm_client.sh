#!/bin/sh
# Time a command as one ARM transaction of a wlmtui service class.
#
#   examples/arm_client.sh interactive curl -fsS http://localhost:8080/health
#
# Exit status 0 reports "good", anything else "failed"; the command's exit
# status is passed on. `wlmtui arm report` prints nothing and exits 0 when
# wlmtui is not running, so this never breaks the script it wraps.
# Use "-" as the class to let wlmtui attribute the report by this shell's cgroup.
#
# `wlmtui arm report` starts Python (tens of ms). In a hot loop, append the
# line yourself: `>>` opens with O_APPEND and a short line is one write, so
#   printf '{"class":"%s","ms":%s,"ts":%s}\n' "$cls" "$ms" "$(date +%s)" >> /var/lib/wlmtui/arm.jsonl
# is read by wlmtui at its next tick (the fallback file of $WLMTUI_ARM_FILE).
set -u
[ $# -ge 2 ] || { echo "usage: $0 CLASS COMMAND [ARGS...]" >&2; exit 2; }
cls=$1
shift
start=$(date +%s%N)
"$@"
rc=$?
end=$(date +%s%N)
us=$(( (end - start) / 1000 ))
ms=$(printf '%d.%03d' $(( us / 1000 )) $(( us % 1000 )))
status=good
[ "$rc" -eq 0 ] || status=failed
wlmtui arm report "$cls" "$ms" --status "$status" ${WLMTUI_POLICY:+--policy "$WLMTUI_POLICY"}
exit "$rc"

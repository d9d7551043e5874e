#!/usr/bin/env bash
# Loads a reproduction report in headless Chromium (Debian's `chromium` package), saves a screenshot
# beside it, and fails if the page logs a console error or Chromium cannot load it.
# Usage: scripts/report-screenshot.sh [REPORT_DIR]   (default: report)
set -euo pipefail
dir=${1:-report}
page="$(cd "$dir" && pwd)/index.html"
[[ -f $page ]] || { echo "report-screenshot: no $page" >&2; exit 2; }
browser=$(command -v chromium || command -v chromium-browser || true)
[[ -n $browser ]] || { echo "report-screenshot: chromium not installed (apt-get install chromium)" >&2; exit 2; }
log=$(mktemp)
trap 'rm -f "$log"' EXIT
# --enable-logging=stderr --v=0 makes Chromium print every console message as "CONSOLE(...)" lines;
# a tall window captures most of the report.
"$browser" --headless --no-sandbox --disable-gpu --hide-scrollbars --enable-logging=stderr --v=0 \
  --window-size=1280,6000 --screenshot="$dir/screenshot.png" "file://$page" 2> "$log" || {
  cat "$log" >&2; echo "report-screenshot: chromium failed" >&2; exit 1; }
[[ -s $dir/screenshot.png ]] || { echo "report-screenshot: no screenshot written" >&2; exit 1; }
# The report has no scripts, so any console message (a script error, a resource that failed to load)
# is a fault; Chromium's own dbus and GPU complaints in a container are not console messages.
if grep -q ':CONSOLE' "$log"; then
  grep ':CONSOLE' "$log" >&2
  echo "report-screenshot: console messages" >&2
  exit 1
fi
echo "report-screenshot: $dir/screenshot.png, no console errors"

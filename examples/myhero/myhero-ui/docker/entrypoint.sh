# myhero-ui's entrypoint in the Dockerfile build (run by busybox sh): checks
# the tutorial's settings, renders /www from the page template, then serves
# it with busybox httpd, logging requests, and stops it on SIGTERM.
set -eu
bb=/bin/busybox
case "${myhero_ui_version:-v1}" in
  v1) heading="Make ONE voice heard!!!" ;;
  v2) heading="Make TWO voices heard!!!" ;;
  v3) heading="Make THREE voices heard!!!" ;;
  *) echo "environment variable myhero_ui_version: \"${myhero_ui_version:-}\" is not v1, v2 or v3" >&2; exit 2 ;;
esac
: "${myhero_app_server:?not set; set it to myhero-app's URL as the browser reaches it}"
: "${myhero_app_key:?not set; set it to myhero-app's key}"
# A JSON string body: backslashes, quotes and '<' escaped.
json() { printf '%s' "$1" | $bb sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/</\\u003c/g'; }
server="$(printf '%s' "$myhero_app_server" | $bb sed -e 's#/*$##')"
$bb mkdir -p /www
$bb sed -e "s/__MYHERO_HEADING__/$heading/" /srv/index.html.in > /www/index.html
printf 'window.MYHERO = {"app_server":"%s","app_key":"%s","version":"%s"};\n' \
  "$(json "$server")" "$(json "$myhero_app_key")" "$(json "${myhero_ui_version:-v1}")" > /www/config.js
echo "myhero-ui (${myhero_ui_version:-v1}) serving on port ${PORT:-80} for $server"
# httpd as PID 1 would ignore SIGTERM (PID 1 gets no default actions), so
# the shell stays PID 1 and stops it: a stop or rollout ends at once. (A
# background job needs /dev/null; a bare chroot without /dev runs httpd in
# the foreground instead.)
if [ ! -e /dev/null ]; then
  exec $bb httpd -f -v -p "${PORT:-80}" -h /www 2>&1
fi
$bb httpd -f -v -p "${PORT:-80}" -h /www 2>&1 &
trap 'kill -TERM $! 2>/dev/null; exit 0' TERM INT
wait $!

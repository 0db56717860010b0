# bench/flux/git_http.sh - sourced by bench/flux/run.sh. git_http_start
# ROOT PORT DIR serves the repositories under ROOT read-only over git's
# smart HTTP protocol on 127.0.0.1:PORT (Flux's go-git clones only over the
# smart protocol): nginx hands each request to `git http-backend` through
# fcgiwrap on a unix socket in DIR (Debian packages, installed on first
# use). Workers run as root, as the bench does, so they can read its
# private temporary folders. Pushes are refused. Adds both pids to
# flux_pids; returns once the repository `repo` answers.

git_http_start() {
  local root=$1 port=$2 dir=$3 i p
  for p in nginx fcgiwrap; do
    PATH=$PATH:/usr/sbin command -v "$p" >/dev/null ||
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$p" >/dev/null
  done
  mkdir -p "$dir/tmp"
  cat >"$dir/nginx.conf" <<CONF
user root;
daemon off;
worker_processes 1;
pid $dir/nginx.pid;
error_log $dir/nginx-error.log;
events {}
http {
  access_log off;
  client_body_temp_path $dir/tmp/body;
  fastcgi_temp_path $dir/tmp/fastcgi;
  proxy_temp_path $dir/tmp/proxy;
  uwsgi_temp_path $dir/tmp/uwsgi;
  scgi_temp_path $dir/tmp/scgi;
  server {
    listen 127.0.0.1:$port;
    location ~ /git-receive-pack\$ { return 403; }
    location / {
      if (\$arg_service = git-receive-pack) { return 403; }
      client_max_body_size 0;
      include /etc/nginx/fastcgi_params;
      fastcgi_param SCRIPT_FILENAME $(git --exec-path)/git-http-backend;
      fastcgi_param GIT_PROJECT_ROOT $root;
      fastcgi_param GIT_HTTP_EXPORT_ALL "";
      fastcgi_param PATH_INFO \$uri;
      fastcgi_pass unix:$dir/fcgiwrap.sock;
    }
  }
}
CONF
  PATH=$PATH:/usr/sbin fcgiwrap -s "unix:$dir/fcgiwrap.sock" >"$dir/fcgiwrap.log" 2>&1 &
  flux_pids+=($!)
  PATH=$PATH:/usr/sbin nginx -c "$dir/nginx.conf" -p "$dir" >"$dir/nginx.log" 2>&1 &
  flux_pids+=($!)
  for i in $(seq 300); do
    curl -sf "http://127.0.0.1:$port/repo/info/refs?service=git-upload-pack" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "the git server did not answer on 127.0.0.1:$port: $dir" >&2; cat "$dir"/*.log >&2; return 1
}

#!/usr/bin/env python3
"""git_http.py ROOT PORT - serves the git repositories under ROOT over git's
smart HTTP protocol on 127.0.0.1:PORT, by running `git http-backend` (CGI)
per request as the calling user. Flux's source-controller (go-git) clones
only over the smart protocol; Python's own CGI server would drop to `nobody`
when run as root, which cannot read the bench's private temp folders.
Read-only: only upload-pack (clone/fetch) is served. Prints 'ready' once
listening."""
import http.server
import os
import subprocess
import sys

ROOT, PORT = sys.argv[1], int(sys.argv[2])
BACKEND = subprocess.run(["git", "--exec-path"], capture_output=True, text=True,
                         check=True).stdout.strip() + "/git-http-backend"


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):  # quiet: one line per request is noise at 1,000 apps
        pass

    def do_GET(self):
        self.backend()

    def do_POST(self):
        self.backend()

    def backend(self):
        path, _, query = self.path.partition("?")
        if "receive-pack" in self.path:
            self.send_error(403, "read-only")
            return
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "GIT_PROJECT_ROOT": ROOT, "GIT_HTTP_EXPORT_ALL": "1",
            "REQUEST_METHOD": self.command, "PATH_INFO": path, "QUERY_STRING": query,
            "CONTENT_TYPE": self.headers.get("Content-Type", ""),
            "CONTENT_LENGTH": str(len(body)), "REMOTE_ADDR": self.client_address[0],
            "HTTP_CONTENT_ENCODING": self.headers.get("Content-Encoding", ""),
            "GIT_PROTOCOL": self.headers.get("Git-Protocol", ""),
        }
        out = subprocess.run([BACKEND], input=body, env=env, capture_output=True).stdout
        head, _, payload = out.partition(b"\r\n\r\n")
        status, headers = 200, []
        for line in head.decode("latin-1").split("\r\n"):
            name, _, value = line.partition(":")
            if name.lower() == "status":
                status = int(value.split()[0])
            elif name:
                headers.append((name, value.strip()))
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


server = http.server.ThreadingHTTPServer(("127.0.0.1", PORT), Handler)
print("ready", flush=True)
server.serve_forever()

"""An app for the request-head tests: takes fd 3 (LISTEN_FDS), reads every request whole
(Content-Length or chunked), appends "METHOD PATH BODYLEN" to $LOG_FILE and answers "seen PATH"."""
import http.server
import os
import socket
import socketserver

LOG = os.environ["LOG_FILE"]


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def body(self):
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            data = b""
            while True:
                line = self.rfile.readline()
                if not line:
                    # The connection ended before the last chunk: not a request.
                    return None
                size = int(line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while True:
                        trailer = self.rfile.readline()
                        if not trailer:
                            return None
                        if trailer in (b"\r\n", b"\n"):
                            return data
                chunk = self.rfile.read(size)
                if len(chunk) < size:
                    return None
                data += chunk
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        data = self.rfile.read(length) if length else b""
        return data if len(data) == length else None

    def handle_one(self):
        body = self.body()
        if body is None:
            self.close_connection = True
            return
        with open(LOG, "a") as f:
            f.write("%s %s %d\n" % (self.command, self.path, len(body)))
        answer = ("seen %s\n" % self.path).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(answer)

    do_GET = do_POST = do_PUT = do_DELETE = do_OPTIONS = do_PATCH = do_HEAD = handle_one


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True


server = Server(("127.0.0.1", 0), Handler, bind_and_activate=False)
server.socket = socket.socket(fileno=3)
server.serve_forever()

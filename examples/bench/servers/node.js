// Node's http server on fd 3, closing on SIGTERM (server.close finishes requests in flight).
const http = require("http");
const body = `ok ${process.pid}\n`;
const server = http.createServer((req, res) => {
  req.resume();
  req.on("end", () => {
    res.writeHead(200, { "content-type": "text/plain", "content-length": Buffer.byteLength(body) });
    res.end(body);
  });
});
server.listen({ fd: 3 });
process.on("SIGTERM", () => server.close(() => process.exit(0)));

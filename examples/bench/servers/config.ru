# A Rack app for puma, which takes systemd's sockets with --bind-to-activated-sockets only.
body = "ok #{Process.pid}\n"
run ->(_env) { [200, { "content-type" => "text/plain", "content-length" => body.bytesize.to_s }, [body]] }

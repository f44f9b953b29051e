"""An app whose first answer is cut: it takes fd 3 (LISTEN_FDS), and answers the first GET with a
Content-Length of 20 but only 4 bytes of body, then closes the connection, as an app killed
half-way through writing it would. Every later GET gets the whole answer. Counts the GETs it
answered in tmp/answered."""
import os
import socket

listener = socket.socket(fileno=3)
answered = 0
while True:
    conn, _ = listener.accept()
    request = b""
    while b"\r\n\r\n" not in request:
        chunk = conn.recv(4096)
        if not chunk:
            break
        request += chunk
    if not request:
        conn.close()
        continue
    answered += 1
    # Counted before the answer leaves: once a client has it, the count is there to read.
    with open("tmp/answered", "w") as f:
        f.write(str(answered))
    if answered == 1:
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 20\r\n\r\nhalf")
    else:
        body = b"the whole answer...."
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 20\r\n\r\n" + body)
    conn.close()

//! Integration tests: the real `hot` binary against real processes, sockets and files.

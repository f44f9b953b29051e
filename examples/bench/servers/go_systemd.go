// net/http taking its socket with go-systemd's activation.Listeners (which checks LISTEN_PID),
// stopping with Server.Shutdown on SIGTERM: the standard Go way.
package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"syscall"

	"github.com/coreos/go-systemd/activation"
)

func main() {
	listeners, err := activation.Listeners()
	if err != nil || len(listeners) == 0 {
		fmt.Fprintln(os.Stderr, "no socket from LISTEN_FDS:", err)
		os.Exit(1)
	}
	body := fmt.Sprintf("ok %d\n", os.Getpid())
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.ReadAll(r.Body)
		fmt.Fprint(w, body)
	})}
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	go func() { <-stop; srv.Shutdown(context.Background()) }()
	if err := srv.Serve(listeners[0]); err != http.ErrServerClosed {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

// Gin on the socket from go-systemd's activation.Listeners, with a graceful Shutdown.
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
	"github.com/gin-gonic/gin"
)

func main() {
	gin.SetMode(gin.ReleaseMode)
	listeners, err := activation.Listeners()
	if err != nil || len(listeners) == 0 {
		fmt.Fprintln(os.Stderr, "no socket from LISTEN_FDS:", err)
		os.Exit(1)
	}
	body := fmt.Sprintf("ok %d\n", os.Getpid())
	r := gin.New()
	r.GET("/", func(c *gin.Context) { c.String(http.StatusOK, body) })
	r.POST("/", func(c *gin.Context) {
		io.ReadAll(c.Request.Body)
		c.String(http.StatusOK, body)
	})
	srv := &http.Server{Handler: r}
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	go func() { <-stop; srv.Shutdown(context.Background()) }()
	if err := srv.Serve(listeners[0]); err != http.ErrServerClosed {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

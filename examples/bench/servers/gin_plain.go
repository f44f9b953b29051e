// Gin exactly as its README writes it: r.Run() binds the port itself (PORT, else :8080), knows
// nothing of fd 3 and has no signal handling (SIGTERM ends it at once).
package main

import (
	"fmt"
	"io"
	"net/http"
	"os"

	"github.com/gin-gonic/gin"
)

func main() {
	gin.SetMode(gin.ReleaseMode)
	body := fmt.Sprintf("ok %d\n", os.Getpid())
	r := gin.New()
	r.GET("/", func(c *gin.Context) { c.String(http.StatusOK, body) })
	r.POST("/", func(c *gin.Context) {
		io.ReadAll(c.Request.Body)
		c.String(http.StatusOK, body)
	})
	r.Run()
}

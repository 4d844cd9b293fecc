package chaos

import (
	"os"
	"testing"

	"github.com/gin-gonic/gin"
)

// TestMain quiets Gin's debug banner, which the receiver of every stack would print.
func TestMain(m *testing.M) {
	gin.SetMode(gin.ReleaseMode)
	os.Exit(m.Run())
}

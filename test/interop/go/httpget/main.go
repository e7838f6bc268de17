// Command httpget GETs one URL with Go's net/http client as an ordinary Go program would (http.Get: the
// Transport adds Accept-Encoding: gzip itself and then decodes the body transparently) and prints what the program
// sees as one JSON object: status, body length and SHA-256, whether the Transport decompressed it, and the
// Content-Encoding header left in the response. Used by test/e2e/s3-server.test.ts to show that Go clients read
// gzip-stored entry bundles straight from a bucket. Standard library only:
//
//	GO111MODULE=off go run ./test/interop/go/httpget URL
package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: httpget URL")
		os.Exit(2)
	}
	c := &http.Client{Timeout: 20 * time.Second}
	resp, err := c.Get(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, "httpget:", err)
		os.Exit(1)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		fmt.Fprintln(os.Stderr, "httpget:", err)
		os.Exit(1)
	}
	h := sha256.Sum256(b)
	_ = json.NewEncoder(os.Stdout).Encode(map[string]any{
		"status":          resp.StatusCode,
		"length":          len(b),
		"sha256":          hex.EncodeToString(h[:]),
		"uncompressed":    resp.Uncompressed,
		"contentEncoding": resp.Header.Get("Content-Encoding"),
	})
}
